import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { storeSuite } from './store.suite.ts';

storeSuite('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
});

test('the sweep drops expired keys nobody reads', async () => {
  const store = new MemoryStore({ sweepIntervalMs: 20 });
  try {
    await store.set('short', 1, { ttl: 1 });
    await store.set('long', 1, { ttl: 100 });
    const entries = (store as unknown as { entries: Map<string, unknown> }).entries;
    expect([...entries.keys()].sort()).toEqual(['long', 'short']);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect([...entries.keys()]).toEqual(['long']);
  } finally {
    await store.close();
  }
});
