/**
 * The Redis Store (ioredis), shared by every replica. Every key and channel gets `keyPrefix`
 * prepended here rather than through ioredis' own keyPrefix option, which applies to neither
 * SCAN patterns nor pub/sub channels; doing it ourselves keeps all three consistent.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { checkTtl, encode } from './memory.ts';
import type { GapPhase, Json, SetOptions, Store } from './store.ts';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL, possibly carrying a password: never logged. */
  url: string;
  keyPrefix: string;
  logger?: Logger;
  /**
   * Redis Sentinel (REDIS_SENTINELS): the master is whichever the sentinels name; `url` then gives
   * only the master's password and database.
   */
  sentinel?: { sentinels: { host: string; port: number }[]; name: string; password?: string };
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

type ScriptedRedis = Redis & {
  storeIncrement(key: string, ttl: number): Promise<number>;
  storeAddToSet(key: string, ttl: number, ...members: string[]): Promise<number>;
};

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
  private subscriber: Redis | undefined;
  /** By full (prefixed) channel name. */
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly url: string;
  /** What Redis this is, for a log line: the URL without its password, or the sentinels' master. */
  private readonly where: string;
  /** Until the first connection, errors are the startup's to report (connected()), once. */
  private everReady = false;

  constructor(options: RedisStoreOptions) {
    this.url = options.url;
    this.where = options.sentinel
      ? `the master "${options.sentinel.name}" of the sentinels ${options.sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`
      : redactRedisUrl(options.url);
    this.prefix = options.keyPrefix;
    this.logger = options.logger;
    const sentinel = options.sentinel && {
      sentinels: options.sentinel.sentinels,
      name: options.sentinel.name,
      ...(options.sentinel.password ? { sentinelPassword: options.sentinel.password } : {}),
      ...sentinelCredentials(options.url),
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
      sentinel ? new Redis({ ...connection, ...sentinel }) : new Redis(options.url, connection)
    ) as ScriptedRedis;
    this.client.defineCommand('storeIncrement', { numberOfKeys: 1, lua: INCREMENT_LUA });
    this.client.defineCommand('storeAddToSet', { numberOfKeys: 1, lua: ADD_TO_SET_LUA });
    this.watch(this.client, 'commands');
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
    return decode<T>(await this.live.get(this.prefix + key));
  }

  async getMany<T extends Json = Json>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.live.mget(keys.map((key) => this.prefix + key));
    return values.map((value) => decode<T>(value));
  }

  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    // MGET, not EXISTS: one answer per key, in order; the values are not decoded.
    const values = await this.live.mgetBuffer(keys.map((key) => this.prefix + key));
    return values.map((value) => value !== null);
  }

  async set(key: string, value: Json, options: SetOptions = {}): Promise<boolean> {
    const text = encode(value);
    const ttl = checkTtl(options.ttl);
    const args: (string | number)[] = [];
    if (ttl > 0) args.push('EX', ttl);
    if (options.onlyIfAbsent) args.push('NX');
    // ioredis' overloads cannot express optional arguments assembled at run time.
    const reply = await this.live.call('SET', this.prefix + key, text, ...args);
    return reply === 'OK';
  }

  async take<T extends Json = Json>(key: string): Promise<T | undefined> {
    return decode<T>(await this.live.getdel(this.prefix + key));
  }

  async delete(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.live.del(...keys.map((key) => this.prefix + key));
  }

  async ttl(key: string): Promise<number | undefined> {
    // PTTL rounded up: TTL rounds to the nearest second, so a key about to expire would read 0 ("never").
    const ms = await this.live.pttl(this.prefix + key);
    if (ms === -2) return undefined;
    return ms === -1 ? 0 : Math.ceil(ms / 1000);
  }

  async increment(key: string, ttl?: number): Promise<number> {
    return this.live.storeIncrement(this.prefix + key, checkTtl(ttl));
  }

  async addToSet(key: string, members: readonly string[], ttl?: number): Promise<void> {
    await this.live.storeAddToSet(this.prefix + key, checkTtl(ttl), ...members);
  }

  async setMembers(key: string): Promise<string[]> {
    return this.live.smembers(this.prefix + key);
  }

  async *keys(prefix: string): AsyncIterable<string> {
    const pattern = escapeGlob(this.prefix + prefix) + '*';
    // SCAN may return a key more than once; report each once.
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, found] = await this.live.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const fullKey of found) {
        if (seen.has(fullKey)) continue;
        seen.add(fullKey);
        yield fullKey.slice(this.prefix.length);
      }
    } while (cursor !== '0');
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.live.publish(this.prefix + channel, message);
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
    const where = this.where;
    let last: Error | undefined;
    await new Promise<void>((resolve, reject) => {
      const waiting = setTimeout(() => onWaiting?.(`waiting for Redis at ${where}`), 1000);
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
        last = err;
        if (AUTH_ERROR.test(err.message)) {
          finish(
            new StorageUnavailable(
              `Redis at ${where} refused the credentials (${firstLine(err.message)}): check the password in REDIS_URL (REDIS_PASSWORD in the Compose stack).`,
              'credentials',
            ),
          );
        }
      };
      const deadline = setTimeout(
        () =>
          finish(
            new StorageUnavailable(
              `Redis at ${where} is unreachable${last ? ` (${firstLine(last.message)})` : ''}: check REDIS_URL, and that Redis runs and accepts connections from this host.`,
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
    try {
      return (await Promise.race([this.client.ping(), timeout])) === 'PONG';
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.subscriptions.clear();
    await Promise.all([quit(this.client), this.subscriber && quit(this.subscriber)]);
  }

  private subscriberConnection(): Redis {
    if (!this.subscriber) {
      this.subscriber = this.client.duplicate();
      this.watch(this.subscriber, 'subscriber');
      this.subscriber.on('message', (name: string, message: string) => this.deliver(name, message));
      // Pub/sub is fire-and-forget: whatever was published while the connection was down is
      // lost. Subscribers hear of it when it drops and again when ioredis has resubscribed.
      let wasReady = false;
      let connected = false;
      this.subscriber.on('ready', () => {
        if (wasReady) this.reportGap('resumed');
        wasReady = true;
        connected = true;
      });
      this.subscriber.on('close', () => {
        if (wasReady && connected) this.reportGap('lost');
        connected = false;
      });
    }
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
  private watch(connection: Redis, role: string): void {
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
async function quit(connection: Redis): Promise<void> {
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
