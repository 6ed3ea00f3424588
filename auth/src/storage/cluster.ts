/**
 * What the Redis store needs on a Redis Cluster (REDIS_CLUSTER_NODES) beyond ioredis' Cluster:
 * the hash slot of a key, to send a multi-key command once per slot, and a pub/sub connection that
 * moves to another node when its node goes away, telling the store when messages may have been lost.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** How many hash slots a Redis Cluster has. */
export const HASH_SLOTS = 16384;

/** CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as the cluster spec defines it. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/**
 * The hash slot of a key: CRC16 of its bytes modulo 16384, or of its hash tag alone, the bytes
 * between the first `{` and the first `}` after it when there is at least one
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
 * Keys are sent as UTF-8, so the bytes are the key's UTF-8 encoding.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(OPEN);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % HASH_SLOTS;
  }
  return crc16(bytes) % HASH_SLOTS;
}

/** The positions of the keys, grouped by hash slot, each group in the order given. */
export function bySlot(keys: readonly string[]): number[][] {
  const groups = new Map<number, number[]>();
  keys.forEach((key, index) => {
    const slot = keySlot(key);
    const group = groups.get(slot);
    if (group) group.push(index);
    else groups.set(slot, [index]);
  });
  return [...groups.values()];
}

export interface NodeAddress {
  host: string;
  port: number;
}

export interface NodeSubscriberOptions {
  /** Where to connect, most current first (the nodes the cluster client knows, then the seeds). */
  nodes(): NodeAddress[];
  /** Password and the like, for every node. */
  redisOptions: RedisOptions;
  onMessage(channel: string, message: string): void;
  /** Messages may have been lost (`lost`), or the channels are subscribed again (`resumed`). */
  onGap(phase: 'lost' | 'resumed'): void;
}

/** A subscribe() waiting for a connection that has its channel subscribed. */
interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** Connections that may still fail before it gives up. */
  attemptsLeft: number;
}

/**
 * Pub/sub on a cluster: a PUBLISH on any node reaches the subscribers of every node (cluster spec,
 * "Pub/Sub": https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#pubsub),
 * so one subscriber connection to any node hears every replica's revocations. When that node goes
 * away the connection moves to another node (trying each known node in turn, at most a second
 * apart) and subscribes every channel again; the messages published meanwhile are lost, which
 * `onGap` reports, as for a single Redis.
 */
export class NodeSubscriber {
  readonly #o: NodeSubscriberOptions;
  readonly #channels = new Set<string>();
  readonly #waiters = new Set<Waiter>();
  #connection: Redis | undefined;
  /** Its channels are subscribed: it is the one that delivers. */
  #subscribed = false;
  #retry: NodeJS.Timeout | undefined;
  #next = 0;
  #failures = 0;
  /** A connection was subscribed once: from then on, every drop is a gap. */
  #everSubscribed = false;
  /** A gap was reported `lost` and not yet `resumed`. */
  #lost = false;
  #closed = false;

  constructor(options: NodeSubscriberOptions) {
    this.#o = options;
  }

  /**
   * Resolves once a connection has the channel subscribed: this one, or the next ones when it
   * fails. Rejects when as many connections as there are known nodes (at least three) failed.
   */
  subscribe(channel: string): Promise<void> {
    this.#channels.add(channel);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, attemptsLeft: Math.max(3, this.#o.nodes().length) };
      this.#waiters.add(waiter);
      const connection = this.#connection;
      if (!connection) return void this.#connectNow();
      if (!this.#subscribed) return; // subscribed with every channel once it is ready
      connection.subscribe(channel).then(
        () => this.#settle(waiter),
        () => undefined, // the connection failed: its 'end' moves the waiter on
      );
    });
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    if (this.#subscribed) await this.#connection?.unsubscribe(channel);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const connection = this.#connection;
    this.#connection = undefined;
    for (const waiter of this.#waiters) waiter.reject(new Error('Connection is closed.'));
    this.#waiters.clear();
    if (connection) await connection.quit().catch(() => connection.disconnect());
  }

  #settle(waiter: Waiter): void {
    if (this.#waiters.delete(waiter)) waiter.resolve();
  }

  /** No connection now (a retry is scheduled): try at once, for a subscribe() waiting. */
  #connectNow(): void {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (!this.#closed) this.#connect();
  }

  #connect(): Redis {
    const nodes = this.#o.nodes();
    const node = nodes[this.#next++ % Math.max(nodes.length, 1)];
    const connection = new Redis({
      ...this.#o.redisOptions,
      host: node?.host,
      port: node?.port,
      // No reconnection to this node: the next attempt may go to another one.
      retryStrategy: () => null,
      // The channels are subscribed again here, all at once, when it is ready.
      autoResubscribe: false,
      enableReadyCheck: true,
    });
    this.#connection = connection;
    this.#subscribed = false;
    // Errors end the connection ('end' below); the store's command connection reports outages.
    connection.on('error', () => undefined);
    connection.on('message', (channel: string, message: string) => {
      if (this.#connection === connection) this.#o.onMessage(channel, message);
    });
    connection.once('ready', () => {
      const channels = [...this.#channels];
      const waiting = [...this.#waiters];
      const subscribed = channels.length ? connection.subscribe(...channels) : Promise.resolve();
      subscribed.then(
        () => {
          if (this.#connection !== connection) return;
          this.#subscribed = true;
          this.#failures = 0;
          this.#everSubscribed = true;
          for (const waiter of waiting) this.#settle(waiter);
          if (this.#lost) {
            this.#lost = false;
            this.#o.onGap('resumed');
          }
        },
        () => connection.disconnect(),
      );
    });
    connection.once('end', () => {
      if (this.#connection !== connection) return;
      this.#connection = undefined;
      this.#subscribed = false;
      if (this.#closed) return;
      if (this.#everSubscribed && !this.#lost) {
        this.#lost = true;
        this.#o.onGap('lost');
      }
      for (const waiter of this.#waiters) {
        if (--waiter.attemptsLeft > 0) continue;
        this.#waiters.delete(waiter);
        waiter.reject(new Error(`Connection is closed. (no node of the cluster took the subscription)`));
      }
      this.#failures++;
      // The first retry at once (another node may well be up), then at most a second apart; at
      // once again for a subscribe() still waiting.
      const delay = this.#waiters.size ? 0 : Math.min((this.#failures - 1) * 100, 1000);
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (!this.#closed && !this.#connection) this.#connect();
      }, delay);
      this.#retry.unref();
    });
    return connection;
  }
}
