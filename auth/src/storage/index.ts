/** Chooses the Store: Redis when configured (shared by replicas, survives restarts), else memory. */
import type { Logger } from '../log.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore, type RedisStoreOptions } from './redis.ts';
import type { Store } from './store.ts';

export type { Json, SetOptions, Store } from './store.ts';
export { MemoryStore } from './memory.ts';
export { RedisStore } from './redis.ts';

export interface StoreOptions {
  redis?: Omit<RedisStoreOptions, 'logger'>;
}

export function createStore(options: StoreOptions, logger?: Logger): Store {
  return options.redis ? new RedisStore({ ...options.redis, logger }) : new MemoryStore({ logger });
}
