/**
 * The Redis Store (ioredis), shared by every replica. Every key and channel gets `keyPrefix`
 * prepended here rather than through ioredis' own keyPrefix option, which applies to neither
 * SCAN patterns nor pub/sub channels; doing it ourselves keeps all three consistent.
 *
 * One Redis (REDIS_URL), a master found through sentinels (REDIS_SENTINELS), or a Redis Cluster
 * (REDIS_CLUSTER_NODES). On a cluster the `oidc:` keys are stored with hash tags (keys.ts,
 * clusterKey), a multi-key command is sent once per hash slot, SCAN walks every master, and pub/sub
 * has a connection of its own that moves between nodes (cluster.ts).
 */
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { bySlot, HASH_SLOTS, keySlot, NodeSubscriber, type NodeAddress } from './cluster.ts';
import { clusterKey, clusterKeyPrefix, keyOfClusterKey } from './keys.ts';
import { checkTtl, encode } from './memory.ts';
import type { GapPhase, Json, SetOptions, Store } from './store.ts';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL, possibly carrying a password: never logged. Not needed with `cluster`. */
  url?: string;
  keyPrefix: string;
  logger?: Logger;
  /**
   * Redis Sentinel (REDIS_SENTINELS): the master is whichever the sentinels name; `url` then gives
   * only the master's password and database.
   */
  sentinel?: { sentinels: NodeAddress[]; name: string; password?: string };
  /**
   * Redis Cluster (REDIS_CLUSTER_NODES): some of its nodes, from which ioredis learns the others;
   * `password` is every node's (REDIS_PASSWORD).
   */
  cluster?: { nodes: NodeAddress[]; password?: string };
}

/**
 * Redis not reachable at startup, or refusing the credentials: `message` is the one line an operator
 * reads (the URL without its password, the cause, what to check).
 */
export class StorageUnavailable extends Error {
  /** `credentials`: Redis refused them, and waiting will not help; `unreachable`: it may come. */
  readonly kind: 'credentials' | 'unreachable';
  constructor(message: string, kind: 'credentials' | 'unreachable' = 'unreachable') {
    super(message);
    this.name = 'StorageUnavailable';
    this.kind = kind;
  }
}

/** The master's password, user name and database from REDIS_URL, for a connection through sentinels. */
function sentinelCredentials(url: string): { password?: string; username?: string; db?: number } {
  const parsed = URL.parse(url);
  if (!parsed) return {};
  const db = Number(parsed.pathname.slice(1) || '0');
  return {
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
  };
}

/** A Redis URL fit for a log line: its password (and user name) replaced by ***. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.username) parsed.username = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(REDIS_URL, not a URL)';
  }
}

/** An error Redis answers when the credentials are wrong or missing: waiting will not help. */
const AUTH_ERROR = /WRONGPASS|NOAUTH|invalid password|invalid username-password/i;

/** How long ping() waits before calling Redis unreachable. */
const PING_TIMEOUT_MS = 2000;
/** SCAN COUNT hint: keys examined per round trip. */
const SCAN_COUNT = 250;

/** INCR that sets the ttl only when it creates the key. KEYS[1]; ARGV[1] = ttl (0: none). */
const INCREMENT_LUA = `
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCR', KEYS[1])
if created and tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return value`;

/**
 * SADD whose ttl never shortens the set's life: 0 makes it permanent, a new set gets the ttl,
 * an expiring set is extended when the ttl reaches further. KEYS[1]; ARGV[1] = ttl, ARGV[2..] = members.
 * With no members it only adjusts the ttl of an existing set (SCARD fails on a non-set, like SADD).
 */
const ADD_TO_SET_LUA = `
local ttl = tonumber(ARGV[1])
local existed = redis.call('EXISTS', KEYS[1]) == 1
if #ARGV > 1 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 2))
elseif redis.call('SCARD', KEYS[1]) == 0 then
  return 0
end
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
elseif not existed then
  redis.call('EXPIRE', KEYS[1], ttl)
else
  local left = redis.call('PTTL', KEYS[1])
  if left >= 0 and left < ttl * 1000 then redis.call('EXPIRE', KEYS[1], ttl) end
end
return 1`;

/** The commands defined by the scripts above. */
interface Scripts {
  storeIncrement(key: string, ttl: number): Promise<number>;
  storeAddToSet(key: string, ttl: number, ...members: string[]): Promise<number>;
}
type ScriptedRedis = (Redis | Cluster) & Scripts;

/** The pub/sub connection: a duplicate of the command connection, or a NodeSubscriber on a cluster. */
interface PubSub {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  close(): Promise<void>;
}

interface Subscription {
  handlers: Set<(message: string) => void>;
  gapHandlers: Set<(phase: GapPhase) => void>;
  /** Settles when Redis has confirmed the SUBSCRIBE. */
  ready: Promise<unknown>;
}

export class RedisStore implements Store {
  private readonly client: ScriptedRedis;
  private readonly prefix: string;
  private readonly logger: Logger | undefined;
  /** A connection in subscriber mode can run nothing else, so pub/sub gets its own, made on first use. */
  private subscriber: PubSub | undefined;
  /** By full (prefixed) channel name. */
  private readonly subscriptions = new Map<string, Subscription>();
  /** On a Redis Cluster: its seed nodes and password (else undefined). */
  private readonly cluster: RedisStoreOptions['cluster'];
  /** What Redis this is, for a log line: the URL without its password, the sentinels' master, the cluster. */
  private readonly where: string;
  /** The settings to check when it cannot be reached, or refuses the credentials. */
  private readonly hints: { unreachable: string; credentials: string };
  /** Until the first connection, errors are the startup's to report (connected()), once. */
  private everReady = false;
  /** On a cluster: whether an outage was logged, and the probe that waits for its end (watchCluster). */
  private readonly clusterHealth: { lost: boolean; checking: boolean; closed: boolean; probe?: NodeJS.Timeout } = {
    lost: false,
    checking: false,
    closed: false,
  };

  constructor(options: RedisStoreOptions) {
    this.cluster = options.cluster;
    const addresses = (nodes: NodeAddress[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');
    this.where = options.cluster
      ? `the Redis Cluster at ${addresses(options.cluster.nodes)}`
      : `Redis at ${
          options.sentinel
            ? `the master "${options.sentinel.name}" of the sentinels ${addresses(options.sentinel.sentinels)}`
            : redactRedisUrl(options.url ?? '')
        }`;
    this.hints = options.cluster
      ? {
          unreachable: 'check REDIS_CLUSTER_NODES, and that the nodes run and accept connections from this host.',
          credentials: 'check REDIS_PASSWORD, the password of every node.',
        }
      : {
          unreachable: 'check REDIS_URL, and that Redis runs and accepts connections from this host.',
          credentials: 'check the password in REDIS_URL (REDIS_PASSWORD in the Compose stack).',
        };
    this.prefix = options.keyPrefix;
    this.logger = options.logger;
    const sentinel = options.sentinel && {
      sentinels: options.sentinel.sentinels,
      name: options.sentinel.name,
      ...(options.sentinel.password ? { sentinelPassword: options.sentinel.password } : {}),
      ...sentinelCredentials(options.url ?? ''),
      // A failover: the old master, if it comes back, is a replica and refuses writes: reconnect
      // (ioredis asks the sentinels again) and send the command again.
      reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
      // How long the sentinels may take to name a master before a connection attempt fails.
      sentinelRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    };
    const connection = {
      // While Redis is unreachable, a command fails after two reconnection attempts (a second or
      // two) instead of queueing for ever; reconnection keeps being tried at most a second apart.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
      enableReadyCheck: true,
      // Commands issued in the same tick share one write (the /verify miss path under load).
      enableAutoPipelining: true,
    };
    this.client = (
      options.cluster
        ? clusterClient(options.cluster)
        : sentinel
          ? new Redis({ ...connection, ...sentinel })
          : new Redis(options.url ?? '', connection)
    ) as ScriptedRedis;
    // One key each (KEYS[1]): a script runs on the node of that key's slot.
    this.client.defineCommand('storeIncrement', { numberOfKeys: 1, lua: INCREMENT_LUA });
    this.client.defineCommand('storeAddToSet', { numberOfKeys: 1, lua: ADD_TO_SET_LUA });
    this.watch(this.client, 'commands');
  }

  /** The name `key` is stored under: with the prefix, and on a cluster with its hash tag (keys.ts). */
  private stored(key: string): string {
    return this.prefix + (this.cluster ? clusterKey(key) : key);
  }

  /**
   * A multi-key command on the stored names of `keys`, its answers in key order: one command on
   * one Redis; on a cluster, where a command naming keys of several slots fails (CROSSSLOT), one
   * per hash slot, side by side. Each command is atomic, not the whole.
   */
  private async perSlot<V>(
    keys: readonly string[],
    command: (client: ScriptedRedis, stored: string[]) => Promise<V[]>,
  ): Promise<V[]> {
    const client = this.live;
    const stored = keys.map((key) => this.stored(key));
    if (!this.cluster) return command(client, stored);
    const answers = new Array<V>(keys.length);
    await Promise.all(
      bySlot(stored).map(async (group) => {
        const replies = await command(
          client,
          group.map((index) => stored[index]!),
        );
        group.forEach((index, i) => (answers[index] = replies[i]!));
      }),
    );
    return answers;
  }

  /**
   * The connection, for a command. Once connected, a command while the connection is down fails
   * at once (StorageUnavailable; the caller answers 503) instead of waiting out reconnection
   * attempts: a gateway that fails fast keeps its clients' retries cheap. Before the first
   * connection, commands wait in ioredis' offline queue (startup waits for Redis anyway).
   */
  private get live(): ScriptedRedis {
    if (this.everReady && this.client.status !== 'ready') {
      throw new StorageUnavailable(`storage unreachable (${this.client.status})`);
    }
    return this.client;
  }

  async get<T extends Json = Json>(key: string): Promise<T | undefined> {
    return decode<T>(await this.live.get(this.stored(key)));
  }

  async getMany<T extends Json = Json>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.perSlot(keys, (client, stored) => client.mget(stored));
    return values.map((value) => decode<T>(value));
  }

  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    // MGET, not EXISTS: one answer per key, in order; the values are not decoded.
    const values = await this.perSlot(keys, (client, stored) => client.mgetBuffer(stored));
    return values.map((value) => value !== null);
  }

  async set(key: string, value: Json, options: SetOptions = {}): Promise<boolean> {
    const text = encode(value);
    const ttl = checkTtl(options.ttl);
    const args: (string | number)[] = [];
    if (ttl > 0) args.push('EX', ttl);
    if (options.onlyIfAbsent) args.push('NX');
    // ioredis' overloads cannot express optional arguments assembled at run time.
    const reply = await this.live.call('SET', this.stored(key), text, ...args);
    return reply === 'OK';
  }

  async take<T extends Json = Json>(key: string): Promise<T | undefined> {
    return decode<T>(await this.live.getdel(this.stored(key)));
  }

  async delete(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const client = this.live;
    const stored = keys.map((key) => this.stored(key));
    if (!this.cluster) return client.del(...stored);
    // One DEL per hash slot, as in perSlot.
    const counts = await Promise.all(bySlot(stored).map((group) => client.del(...group.map((i) => stored[i]!))));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  async ttl(key: string): Promise<number | undefined> {
    // PTTL rounded up: TTL rounds to the nearest second, so a key about to expire would read 0 ("never").
    const ms = await this.live.pttl(this.stored(key));
    if (ms === -2) return undefined;
    return ms === -1 ? 0 : Math.ceil(ms / 1000);
  }

  async increment(key: string, ttl?: number): Promise<number> {
    return this.live.storeIncrement(this.stored(key), checkTtl(ttl));
  }

  async addToSet(key: string, members: readonly string[], ttl?: number): Promise<void> {
    await this.live.storeAddToSet(this.stored(key), checkTtl(ttl), ...members);
  }

  async setMembers(key: string): Promise<string[]> {
    return this.live.smembers(this.stored(key));
  }

  async *keys(prefix: string): AsyncIterable<string> {
    const client = this.live;
    // On a cluster every master holds its own keys: each is walked in turn.
    const nodes = client instanceof Cluster ? masters(client) : [client];
    const pattern = escapeGlob(this.prefix + (this.cluster ? clusterKeyPrefix(prefix) : prefix)) + '*';
    // SCAN may return a key more than once; report each once.
    const seen = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const fullKey of found) {
          if (seen.has(fullKey)) continue;
          seen.add(fullKey);
          const stored = fullKey.slice(this.prefix.length);
          const key = this.cluster ? keyOfClusterKey(stored) : stored;
          // On a cluster the pattern may match more than asked for (clusterKeyPrefix).
          if (key.startsWith(prefix)) yield key;
        }
      } while (cursor !== '0');
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    const name = this.prefix + channel;
    const client = this.live;
    if (client instanceof Cluster) {
      // ioredis would send each PUBLISH to any node, and two messages sent through two nodes may
      // reach a subscriber in either order: a channel's messages go through one node, the master
      // of the channel name's slot; through another when that one cannot take it.
      const node = masterOf(client, keySlot(name));
      if (
        await node?.publish(name, message).then(
          () => true,
          () => false,
        )
      )
        return;
    }
    await client.publish(name, message);
  }

  async subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onGap?: (phase: GapPhase) => void,
  ): Promise<() => Promise<void>> {
    const name = this.prefix + channel;
    // A fresh function per subscription, so subscribing the same callback twice needs two unsubscribes.
    const handler = (message: string): void => onMessage(message);
    let subscription = this.subscriptions.get(name);
    if (!subscription) {
      subscription = {
        handlers: new Set(),
        gapHandlers: new Set(),
        ready: this.subscriberConnection().subscribe(name),
      };
      this.subscriptions.set(name, subscription);
    }
    const current = subscription;
    current.handlers.add(handler);
    const gap = onGap && ((phase: GapPhase): void => onGap(phase));
    if (gap) current.gapHandlers.add(gap);

    const unsubscribe = async (): Promise<void> => {
      if (gap) current.gapHandlers.delete(gap);
      if (!current.handlers.delete(handler) || current.handlers.size > 0) return;
      if (this.subscriptions.get(name) !== current) return;
      this.subscriptions.delete(name);
      await this.subscriber?.unsubscribe(name);
    };
    try {
      await current.ready;
    } catch (err) {
      await unsubscribe().catch(() => undefined);
      throw err;
    }
    return unsubscribe;
  }

  /**
   * Resolves once Redis answers; rejects with StorageUnavailable when it does not within
   * `timeoutMs`, or at once when it refuses the credentials.
   */
  async connected(timeoutMs: number, onWaiting?: (message: string) => void): Promise<void> {
    if (this.client.status === 'ready') return;
    const { where, hints } = this;
    let last: Error | undefined;
    await new Promise<void>((resolve, reject) => {
      const waiting = setTimeout(() => onWaiting?.(`waiting for ${where}`), 1000);
      const finish = (err?: StorageUnavailable) => {
        clearTimeout(waiting);
        clearTimeout(deadline);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => finish();
      const onError = (err: Error) => {
        // A cluster reports that no node could be asked for the slots, and why the last one failed.
        last = (err as { lastNodeError?: Error }).lastNodeError ?? err;
        if (AUTH_ERROR.test(last.message)) {
          finish(
            new StorageUnavailable(
              `${where} refused the credentials (${firstLine(last.message)}): ${hints.credentials}`,
              'credentials',
            ),
          );
        }
      };
      const deadline = setTimeout(
        () =>
          finish(
            new StorageUnavailable(
              `${where} is unreachable${last ? ` (${this.cluster && last.message === 'Connection is closed.' ? 'no node answered' : firstLine(last.message)})` : ''}: ${hints.unreachable}`,
            ),
          ),
        timeoutMs,
      );
      this.client.on('ready', onReady);
      this.client.on('error', onError);
    });
  }

  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS);
    });
    // On a cluster, every master: a command needs the one of its key's slot.
    const answer = async (): Promise<boolean> => {
      if ((await this.client.ping()) !== 'PONG') return false;
      if (!(this.client instanceof Cluster)) return true;
      const answers = await Promise.all(masters(this.client).map((node) => node.ping()));
      return answers.every((reply) => reply === 'PONG');
    };
    try {
      return await Promise.race([answer(), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.clusterHealth.closed = true;
    clearTimeout(this.clusterHealth.probe);
    this.subscriptions.clear();
    await Promise.all([quit(this.client), this.subscriber?.close()]);
  }

  private subscriberConnection(): PubSub {
    if (this.subscriber) return this.subscriber;
    const client = this.client;
    if (client instanceof Cluster) {
      const seeds = this.cluster?.nodes ?? [];
      this.subscriber = new NodeSubscriber({
        // The nodes the cluster client knows now, then the seeds (all of them may have changed).
        nodes: () => [
          ...client
            .nodes('all')
            .map((node) => ({ host: node.options.host ?? 'localhost', port: node.options.port ?? 6379 })),
          ...seeds,
        ],
        redisOptions: this.cluster?.password ? { password: this.cluster.password } : {},
        onMessage: (name, message) => this.deliver(name, message),
        onGap: (phase) => {
          if (phase === 'lost') this.suspectOutage('subscriber', 'pub/sub connection lost');
          this.reportGap(phase);
        },
      });
      return this.subscriber;
    }
    const connection = client.duplicate();
    this.watch(connection, 'subscriber');
    connection.on('message', (name: string, message: string) => this.deliver(name, message));
    // Pub/sub is fire-and-forget: whatever was published while the connection was down is
    // lost. Subscribers hear of it when it drops and again when ioredis has resubscribed.
    let wasReady = false;
    let connected = false;
    connection.on('ready', () => {
      if (wasReady) this.reportGap('resumed');
      wasReady = true;
      connected = true;
    });
    connection.on('close', () => {
      if (wasReady && connected) this.reportGap('lost');
      connected = false;
    });
    this.subscriber = {
      subscribe: (channel) => connection.subscribe(channel),
      unsubscribe: (channel) => connection.unsubscribe(channel),
      close: () => quit(connection),
    };
    return this.subscriber;
  }

  private reportGap(phase: GapPhase): void {
    for (const subscription of this.subscriptions.values()) {
      for (const gap of [...subscription.gapHandlers]) {
        try {
          gap(phase);
        } catch (err) {
          this.logger?.error({ err }, 'storage: gap handler failed');
        }
      }
    }
  }

  private deliver(name: string, message: string): void {
    for (const handler of [...(this.subscriptions.get(name)?.handlers ?? [])]) {
      try {
        handler(message);
      } catch (err) {
        // A failing subscriber must not break the connection's event loop or other subscribers.
        this.logger?.error({ err }, 'storage: subscriber failed');
      }
    }
  }

  /**
   * A lost connection is logged once, when it is lost, and once when it is back (ioredis
   * reconnects by itself, at most a second apart): one line each, never a stack trace per attempt.
   * Without an error listener ioredis would print every attempt.
   */
  private watch(connection: Redis | Cluster, role: string): void {
    if (connection instanceof Cluster) return this.watchCluster(connection, role);
    let lost = false;
    connection.on('ready', () => {
      this.everReady = true;
      if (lost) this.logger?.info({ role }, 'storage reachable again');
      lost = false;
    });
    connection.on('error', (err: Error & { code?: string }) => {
      if (!this.everReady || lost) return;
      lost = true;
      this.logger?.warn(
        { role, reason: err.code ?? firstLine(err.message) },
        'storage unreachable: what needs it is answered 503 until it returns; reconnecting',
      );
    });
  }

  /**
   * On a cluster no one connection says whether storage is there: a node may be lost while the
   * others answer, and ioredis connects to a node only when a command needs it. Whatever hints at
   * a loss (an error of the cluster or of a node, the pub/sub connection dropped) has every master
   * pinged; when one does not answer, that is logged once, and every second the slot map is read
   * again and the masters pinged until all answer, which is logged once too.
   */
  private watchCluster(cluster: Cluster, role: string): void {
    cluster.on('ready', () => {
      if (!this.everReady) {
        // Until it first was, commands waited for the cluster in ioredis' queue; from now on a
        // command while it is not ready fails at once (StorageUnavailable, 503), as on one Redis.
        cluster.options.enableOfflineQueue = false;
      }
      this.everReady = true;
    });
    cluster.on('error', (err: Error & { lastNodeError?: Error & { code?: string } }) => {
      const cause = err.lastNodeError ?? err;
      this.suspectOutage(role, (cause as { code?: string }).code ?? firstLine(cause.message));
    });
    cluster.on('node error', (err: Error & { code?: string }, node: string) =>
      this.suspectOutage(role, `${node} ${err.code ?? firstLine(err.message)}`),
    );
  }

  /** A hint that (some of) the cluster is unreachable: checked, and followed until it is back. */
  private suspectOutage(role: string, reason: string): void {
    const health = this.clusterHealth;
    if (!this.everReady || health.lost || health.checking || health.closed) return;
    health.checking = true;
    void this.ping().then((reachable) => {
      health.checking = false;
      if (reachable || health.closed) return;
      health.lost = true;
      this.logger?.warn(
        { role, reason },
        'storage unreachable: what needs it is answered 503 until it returns; reconnecting',
      );
      const probe = async (): Promise<void> => {
        if (health.closed) return;
        // The slot map read again first: a replica may have taken over since.
        const cluster = this.client;
        if (cluster instanceof Cluster)
          await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
        if (!(await this.ping())) {
          health.probe = setTimeout(() => void probe(), 1000).unref();
          return;
        }
        health.lost = false;
        this.logger?.info({ role }, 'storage reachable again');
      };
      health.probe = setTimeout(() => void probe(), 1000).unref();
    });
  }
}

/**
 * The cluster client of REDIS_CLUSTER_NODES. ioredis finds the other nodes and the slot map from
 * the seeds, sends each command to its slot's master, follows MOVED and ASK redirections, and reads
 * the slot map again when a node is lost (a replica may have taken over).
 */
function clusterClient(cluster: NonNullable<RedisStoreOptions['cluster']>): Cluster {
  return new Cluster(cluster.nodes, {
    redisOptions: cluster.password ? { password: cluster.password } : {},
    // While no node answers, reconnection is tried at most a second apart, as for one Redis.
    clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    enableReadyCheck: true,
    // No auto-pipelining: ioredis sends a pipeline on again after MOVED only when every command in
    // it got the same redirection, and after a failover the commands of one pipeline are redirected
    // for several slots, so they would fail with MOVED; each command on its own is redirected.
    enableAutoPipelining: false,
    // Reads go to masters: a replica may not have the write just made.
    scaleReads: 'master',
    // A command whose node is gone is tried again a few times, 100 ms apart, after the slot map
    // is read again (a replica promoted meanwhile takes it), then fails: nothing waits for long.
    maxRedirections: 5,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    // Until the cluster is first ready (watchCluster turns it off then).
    enableOfflineQueue: true,
  });
}

/**
 * The connection of every master, for what must ask each (SCAN, ping): the master of every
 * slot, by the slot map. Throws StorageUnavailable when a slot has none or its master is not
 * connected: a walk over the others would miss its keys, and say nothing.
 */
function masters(cluster: Cluster): Redis[] {
  const connections = new Map(cluster.nodes('all').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  const owners = new Set<string>();
  for (let slot = 0; slot < HASH_SLOTS; slot++) {
    const owner = cluster.slots[slot]?.[0];
    if (!owner) throw new StorageUnavailable(`storage unreachable (hash slot ${slot} has no master)`);
    owners.add(owner);
  }
  return [...owners].map((owner) => {
    const connection = connections.get(owner);
    if (!connection) throw new StorageUnavailable(`storage unreachable (cluster node ${owner} is not connected)`);
    return connection;
  });
}

/** The connection to the master of a slot, when the slot map names one and it is connected. */
function masterOf(cluster: Cluster, slot: number): Redis | undefined {
  const owner = cluster.slots[slot]?.[0];
  return owner
    ? cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner)
    : undefined;
}

const firstLine = (text: string): string => text.split('\n', 1)[0]!;

function decode<T extends Json>(text: string | null): T | undefined {
  return text === null ? undefined : (JSON.parse(text) as T);
}

/** Escapes the characters special to Redis glob patterns (MATCH), so the prefix matches literally. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** QUIT, or a plain disconnect when the connection is already unusable. */
async function quit(connection: Redis | Cluster): Promise<void> {
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
