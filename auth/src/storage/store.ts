/**
 * The storage interface. Everything that must outlive a request lives behind it: oidc-provider
 * models (clients, grants, codes, refresh tokens, sessions, interactions), signing keys, cookie
 * secrets, remembered consents and revocations. Two implementations: `MemoryStore` (the
 * reference, for the embedded default and tests) and `RedisStore` (ioredis). One shared test
 * suite (tests/storage/store.suite.ts) runs against both.
 *
 * Keys are plain strings chosen by callers (documented in docs/storage.md); an implementation
 * may add its own prefix (RedisStore: REDIS_KEY_PREFIX). Values are JSON-serialisable and come
 * back as a structural copy, never the same object. A `ttl` is in whole seconds; absent or 0
 * means the key does not expire.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };

export interface SetOptions {
  /** Seconds until the key expires; absent or 0: never. */
  ttl?: number;
  /** Only write when the key does not exist (Redis `SET NX`). */
  onlyIfAbsent?: boolean;
}

/** A gap in a subscription: the connection was `lost`, or has `resumed` (resubscribed). */
export type GapPhase = 'lost' | 'resumed';

export interface Store {
  /** The value, or undefined when absent or expired. */
  get<T extends Json = Json>(key: string): Promise<T | undefined>;
  /** Values in key order, one round trip. */
  getMany<T extends Json = Json>(keys: readonly string[]): Promise<(T | undefined)[]>;
  /** Which of the keys hold a value (read like getMany, never parsed; a set counts as absent), one round trip. */
  hasMany(keys: readonly string[]): Promise<boolean[]>;
  /** Writes the value; with `onlyIfAbsent` returns false (and writes nothing) when the key exists. */
  set(key: string, value: Json, options?: SetOptions): Promise<boolean>;
  /** Reads and deletes atomically: exactly one concurrent caller gets the value. */
  take<T extends Json = Json>(key: string): Promise<T | undefined>;
  /** Deletes keys (absent ones are ignored); returns how many existed. */
  delete(...keys: string[]): Promise<number>;
  /** Seconds left: undefined when absent, 0 when it never expires. */
  ttl(key: string): Promise<number | undefined>;
  /** Increments an integer counter, creating it at 0; the ttl applies when the key is created. */
  increment(key: string, ttl?: number): Promise<number>;

  /**
   * Adds members to a set; the set's ttl becomes at least `ttl` (never shortened, 0 = forever).
   * Used as a secondary index (grant id → keys of its tokens).
   */
  addToSet(key: string, members: readonly string[], ttl?: number): Promise<void>;
  /** Members of a set ([] when absent). */
  setMembers(key: string): Promise<string[]>;

  /** Keys that start with `prefix` (the caller's key space, without the implementation's prefix). */
  keys(prefix: string): AsyncIterable<string>;

  /** Publishes a message on a channel to every subscriber of every replica (Redis pub/sub). */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes; returns the function that unsubscribes. `onGap` is called whenever messages may
   * have been missed: when the subscription's connection drops, and again once it is back.
   * Caches that rely on invalidation messages flush there.
   */
  subscribe(
    channel: string,
    onMessage: (message: string) => void,
    onGap?: (phase: GapPhase) => void,
  ): Promise<() => Promise<void>>;

  /** Is the backend reachable (for /health)? */
  ping(): Promise<boolean>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
