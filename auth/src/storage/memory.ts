/**
 * The in-memory Store: the reference implementation, used when no Redis is configured and in
 * tests. It mirrors Redis semantics closely so that code tested against it behaves the same on
 * Redis: values are kept as JSON text (callers get copies; non-JSON values fail at write time),
 * keys expire by timestamp, and pub/sub delivers asynchronously.
 */
import type { Logger } from '../log.ts';
import type { Json, SetOptions, Store } from './store.ts';

/** JSON text of a value; throws on what JSON cannot represent, as writing it to Redis would. */
export function encode(value: Json): string {
  const text: unknown = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`storage: value of type ${typeof value} is not JSON`);
  return text;
}

/** Validates a ttl (whole seconds, 0 = never) and returns it; both stores reject the same values. */
export function checkTtl(ttl: number | undefined): number {
  const seconds = ttl ?? 0;
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`storage: ttl must be a whole number of seconds >= 0, got ${ttl}`);
  }
  return seconds;
}

interface Entry {
  /** JSON text of a plain value, or the members of a set. */
  value: string | Set<string>;
  /** Epoch milliseconds at which the key expires; 0: never. */
  expiresAt: number;
}

export interface MemoryStoreOptions {
  /** How often expired keys are swept out (reads ignore them regardless). Default 60 s. */
  sweepIntervalMs?: number;
  /** Where errors thrown by subscribers are reported. */
  logger?: Logger;
}

export class MemoryStore implements Store {
  private readonly entries = new Map<string, Entry>();
  private readonly channels = new Map<string, Set<(message: string) => void>>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly logger: Logger | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.logger = options.logger;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 60_000);
    this.sweeper.unref();
  }

  async get<T extends Json = Json>(key: string): Promise<T | undefined> {
    return this.read<T>(key);
  }

  async getMany<T extends Json = Json>(keys: readonly string[]): Promise<(T | undefined)[]> {
    return keys.map((key) => this.read<T>(key));
  }

  async hasMany(keys: readonly string[]): Promise<boolean[]> {
    return keys.map((key) => typeof this.live(key)?.value === 'string');
  }

  async set(key: string, value: Json, options: SetOptions = {}): Promise<boolean> {
    const text = encode(value);
    const ttl = checkTtl(options.ttl);
    if (options.onlyIfAbsent && this.live(key)) return false;
    this.entries.set(key, { value: text, expiresAt: expiry(ttl) });
    return true;
  }

  async take<T extends Json = Json>(key: string): Promise<T | undefined> {
    const value = this.read<T>(key);
    this.entries.delete(key);
    return value;
  }

  async delete(...keys: string[]): Promise<number> {
    let existed = 0;
    for (const key of keys) {
      if (this.live(key)) existed++;
      this.entries.delete(key);
    }
    return existed;
  }

  async ttl(key: string): Promise<number | undefined> {
    const entry = this.live(key);
    if (!entry) return undefined;
    // Rounded up, so a live key never reports 0 (which means "never expires").
    return entry.expiresAt === 0 ? 0 : Math.ceil((entry.expiresAt - Date.now()) / 1000);
  }

  async increment(key: string, ttl?: number): Promise<number> {
    const seconds = checkTtl(ttl);
    const entry = this.live(key);
    if (!entry) {
      this.entries.set(key, { value: '1', expiresAt: expiry(seconds) });
      return 1;
    }
    // Like Redis INCR: only an integer string can be incremented.
    if (typeof entry.value !== 'string' || !/^-?\d+$/.test(entry.value)) {
      throw new TypeError(`storage: ${key} does not hold an integer`);
    }
    const next = Number(entry.value) + 1;
    entry.value = String(next);
    return next;
  }

  async addToSet(key: string, members: readonly string[], ttl?: number): Promise<void> {
    const seconds = checkTtl(ttl);
    let entry = this.live(key);
    if (!entry) {
      if (members.length === 0) return;
      entry = { value: new Set(), expiresAt: expiry(seconds) };
      this.entries.set(key, entry);
    }
    const set = asSet(key, entry);
    for (const member of members) set.add(member);
    // Never shorten: "forever" (0) beats any ttl, otherwise the later expiry wins.
    if (entry.expiresAt !== 0) entry.expiresAt = seconds === 0 ? 0 : Math.max(entry.expiresAt, expiry(seconds));
  }

  async setMembers(key: string): Promise<string[]> {
    const entry = this.live(key);
    return entry ? [...asSet(key, entry)] : [];
  }

  async *keys(prefix: string): AsyncIterable<string> {
    // A snapshot, so keys written or deleted while the caller iterates cannot upset the walk.
    for (const key of [...this.entries.keys()]) {
      if (key.startsWith(prefix) && this.live(key)) yield key;
    }
  }

  async publish(channel: string, message: string): Promise<void> {
    for (const handler of this.channels.get(channel) ?? []) {
      // Asynchronous like Redis: the publisher never runs subscriber code on its own stack.
      setImmediate(() => {
        if (this.channels.get(channel)?.has(handler)) this.deliver(handler, message);
      });
    }
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    // A fresh function per subscription, so subscribing the same callback twice needs two unsubscribes.
    const handler = (message: string): void => onMessage(message);
    let handlers = this.channels.get(channel);
    if (!handlers) this.channels.set(channel, (handlers = new Set()));
    handlers.add(handler);
    return async () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.channels.get(channel) === handlers) this.channels.delete(channel);
    };
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.channels.clear();
  }

  /** The entry under `key` unless absent or expired (an expired one is dropped on the way). */
  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private read<T extends Json>(key: string): T | undefined {
    const entry = this.live(key);
    if (!entry) return undefined;
    if (typeof entry.value !== 'string') throw new TypeError(`storage: ${key} holds a set, not a value`);
    return JSON.parse(entry.value) as T;
  }

  private sweep(): void {
    for (const key of this.entries.keys()) this.live(key);
  }

  private deliver(handler: (message: string) => void, message: string): void {
    try {
      handler(message);
    } catch (err) {
      // A failing subscriber must not take the process (or other subscribers) down.
      this.logger?.error({ err }, 'storage: subscriber failed');
    }
  }
}

function expiry(ttl: number): number {
  return ttl === 0 ? 0 : Date.now() + ttl * 1000;
}

function asSet(key: string, entry: Entry): Set<string> {
  if (typeof entry.value === 'string') throw new TypeError(`storage: ${key} holds a value, not a set`);
  return entry.value;
}
