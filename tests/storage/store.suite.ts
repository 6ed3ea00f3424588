/**
 * The Store contract (auth/src/storage/store.ts), run against every implementation. Each test
 * gets a fresh store; the only real waits (ttl expiry) are grouped into one test.
 */
import type { Json, Store } from '../../auth/src/storage/store.ts';

export interface StoreUnderTest {
  store: Store;
  cleanup(): Promise<void>;
}

/** Polls until `check` holds; fails with `what` after two seconds. */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const found: string[] = [];
  for await (const key of keys) found.push(key);
  return found.sort();
}

export function storeSuite(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(name, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup();
    });

    describe('values', () => {
      const nested = {
        name: 'grant',
        count: 3,
        ratio: -0.25,
        ok: true,
        nothing: null,
        list: [1, 'two', { three: [3] }, []],
        deep: { a: { b: { c: 'd' } } },
      };

      test('get of an absent key is undefined', async () => {
        expect(await store.get('absent')).toBeUndefined();
      });

      test('nested JSON and every scalar type round-trip', async () => {
        expect(await store.set('obj', nested)).toBe(true);
        await store.set('str', 'plain');
        await store.set('num', 42);
        await store.set('bool', false);
        await store.set('null', null);
        await store.set('empty', '');
        expect(await store.get('obj')).toEqual(nested);
        expect(await store.getMany(['str', 'num', 'bool', 'null', 'empty'])).toEqual(['plain', 42, false, null, '']);
      });

      test('unicode survives, in keys, values and members', async () => {
        const text = 'héllo 世界 🔑 \u0000 "quoted" \\ \n';
        await store.set('ключ:🗝', { text });
        expect(await store.get('ключ:🗝')).toEqual({ text });
        await store.addToSet('набор', ['ü', '😀']);
        expect((await store.setMembers('набор')).sort()).toEqual(['ü', '😀']);
      });

      test('values are structural copies, both ways', async () => {
        const written = { list: [1, 2], inner: { flag: true } };
        await store.set('copy', written);
        written.list.push(3);
        const first = await store.get<{ list: number[]; inner: { flag: boolean } }>('copy');
        expect(first).toEqual({ list: [1, 2], inner: { flag: true } });
        first!.list.push(99);
        first!.inner.flag = false;
        const second = await store.get('copy');
        expect(second).toEqual({ list: [1, 2], inner: { flag: true } });
        expect(second).not.toBe(first);
      });

      test('non-JSON values and bad ttls fail at write time', async () => {
        await expect(store.set('bad', undefined as unknown as Json)).rejects.toThrow(TypeError);
        await expect(store.set('bad', (() => 1) as unknown as Json)).rejects.toThrow(TypeError);
        await expect(store.set('bad', 1n as unknown as Json)).rejects.toThrow();
        await expect(store.set('bad', 'v', { ttl: -1 })).rejects.toThrow(RangeError);
        await expect(store.set('bad', 'v', { ttl: 1.5 })).rejects.toThrow(RangeError);
        await expect(store.increment('bad', -5)).rejects.toThrow(RangeError);
        expect(await store.get('bad')).toBeUndefined();
      });

      test('getMany returns values in key order, undefined for absent keys', async () => {
        await store.set('a', 'A');
        await store.set('c', { c: 3 });
        expect(await store.getMany(['c', 'missing', 'a', 'c', 'other'])).toEqual([
          { c: 3 },
          undefined,
          'A',
          { c: 3 },
          undefined,
        ]);
        expect(await store.getMany([])).toEqual([]);
      });

      test('hasMany says which keys hold a value, in key order; a set counts as absent', async () => {
        await store.set('a', 'A');
        await store.set('n', null);
        await store.addToSet('s', ['m']);
        expect(await store.hasMany(['a', 'missing', 'n', 's', 'a'])).toEqual([true, false, true, false, true]);
        expect(await store.hasMany([])).toEqual([]);
      });

      test('set overwrites; onlyIfAbsent writes only when the key does not exist', async () => {
        expect(await store.set('k', 1)).toBe(true);
        expect(await store.set('k', 2)).toBe(true);
        expect(await store.get('k')).toBe(2);
        expect(await store.set('k', 3, { onlyIfAbsent: true })).toBe(false);
        expect(await store.get('k')).toBe(2);
        expect(await store.set('new', 'n', { onlyIfAbsent: true, ttl: 100 })).toBe(true);
        expect(await store.get('new')).toBe('n');
        expect(await store.ttl('new')).toBeGreaterThan(98);
        expect(await store.set('k', 4, { onlyIfAbsent: false })).toBe(true);
        expect(await store.get('k')).toBe(4);
      });

      test('ttl: undefined when absent, 0 when forever, seconds left otherwise', async () => {
        expect(await store.ttl('absent')).toBeUndefined();
        await store.set('forever', 1);
        await store.set('zero', 1, { ttl: 0 });
        await store.set('timed', 1, { ttl: 100 });
        expect(await store.ttl('forever')).toBe(0);
        expect(await store.ttl('zero')).toBe(0);
        const left = await store.ttl('timed');
        expect(left).toBeGreaterThanOrEqual(99);
        expect(left).toBeLessThanOrEqual(100);
      });

      test('set without a ttl clears a previous one; with a ttl replaces it', async () => {
        await store.set('k', 'a', { ttl: 100 });
        await store.set('k', 'b');
        expect(await store.ttl('k')).toBe(0);
        await store.set('k', 'c', { ttl: 500 });
        expect(await store.ttl('k')).toBeGreaterThan(400);
        await store.set('k', 'd', { ttl: 50 });
        expect(await store.ttl('k')).toBeLessThanOrEqual(50);
      });
    });

    describe('take and delete', () => {
      test('take returns the value and deletes it', async () => {
        await store.set('once', { code: 'abc' }, { ttl: 100 });
        expect(await store.take('once')).toEqual({ code: 'abc' });
        expect(await store.get('once')).toBeUndefined();
        expect(await store.ttl('once')).toBeUndefined();
        expect(await store.take('once')).toBeUndefined();
        expect(await store.take('never')).toBeUndefined();
      });

      test('exactly one of 20 concurrent takes gets the value', async () => {
        await store.set('race', 'prize');
        const results = await Promise.all(Array.from({ length: 20 }, () => store.take('race')));
        expect(results.filter((r) => r !== undefined)).toEqual(['prize']);
        expect(await store.get('race')).toBeUndefined();
      });

      test('delete counts the keys that existed, values and sets alike', async () => {
        await store.set('a', 1);
        await store.set('b', 2);
        await store.addToSet('s', ['x']);
        expect(await store.delete('a', 'missing', 's')).toBe(2);
        expect(await store.get('a')).toBeUndefined();
        expect(await store.setMembers('s')).toEqual([]);
        expect(await store.get('b')).toBe(2);
        expect(await store.delete('a')).toBe(0);
        expect(await store.delete()).toBe(0);
        expect(await store.delete('b')).toBe(1);
      });
    });

    describe('counters and sets', () => {
      test('increment creates at 0 and counts up; the ttl applies only on creation', async () => {
        expect(await store.increment('hits', 100)).toBe(1);
        expect(await store.increment('hits', 1000)).toBe(2);
        expect(await store.increment('hits')).toBe(3);
        expect(await store.get('hits')).toBe(3);
        const left = await store.ttl('hits');
        expect(left).toBeGreaterThanOrEqual(99);
        expect(left).toBeLessThanOrEqual(100);

        expect(await store.increment('forever')).toBe(1);
        expect(await store.increment('forever', 100)).toBe(2);
        expect(await store.ttl('forever')).toBe(0);

        await store.set('preset', 41, { ttl: 200 });
        expect(await store.increment('preset', 10)).toBe(42);
        expect(await store.ttl('preset')).toBeGreaterThan(190);
      });

      test('increment of a non-integer value fails', async () => {
        await store.set('text', 'abc');
        await expect(store.increment('text')).rejects.toThrow();
        expect(await store.get('text')).toBe('abc');
      });

      test('addToSet collects distinct members; setMembers is [] when absent', async () => {
        expect(await store.setMembers('absent')).toEqual([]);
        await store.addToSet('idx', ['a', 'b']);
        await store.addToSet('idx', ['b', 'c']);
        await store.addToSet('idx', []);
        expect((await store.setMembers('idx')).sort()).toEqual(['a', 'b', 'c']);
        await store.addToSet('nothing', [], 100);
        expect(await store.ttl('nothing')).toBeUndefined();
      });

      test('addToSet never shortens the ttl, and 0 means forever for good', async () => {
        await store.addToSet('idx', ['a'], 100);
        let left = await store.ttl('idx');
        expect(left).toBeGreaterThanOrEqual(99);
        expect(left).toBeLessThanOrEqual(100);

        await store.addToSet('idx', ['b'], 10);
        expect(await store.ttl('idx')).toBeGreaterThanOrEqual(99);

        await store.addToSet('idx', [], 1000);
        left = await store.ttl('idx');
        expect(left).toBeGreaterThanOrEqual(999);
        expect(left).toBeLessThanOrEqual(1000);

        await store.addToSet('idx', ['c'], 0);
        expect(await store.ttl('idx')).toBe(0);
        await store.addToSet('idx', ['d'], 50);
        expect(await store.ttl('idx')).toBe(0);
        expect((await store.setMembers('idx')).sort()).toEqual(['a', 'b', 'c', 'd']);

        await store.addToSet('new', ['x']);
        expect(await store.ttl('new')).toBe(0);
      });
    });

    describe('keys', () => {
      test('lists exactly the live keys under a prefix, values and sets alike', async () => {
        await store.set('grant:1', 1);
        await store.set('grant:2', 2, { ttl: 100 });
        await store.addToSet('grant:index', ['x']);
        await store.increment('grant:count');
        await store.set('grants', 0);
        await store.set('other:grant:3', 3);
        expect(await collect(store.keys('grant:'))).toEqual(['grant:1', 'grant:2', 'grant:count', 'grant:index']);
        expect(await collect(store.keys('nothing:'))).toEqual([]);
        expect(await collect(store.keys(''))).toEqual([
          'grant:1',
          'grant:2',
          'grant:count',
          'grant:index',
          'grants',
          'other:grant:3',
        ]);
      });

      test('lists many keys, each once', async () => {
        const expected = Array.from({ length: 500 }, (_, i) => `many:${String(i).padStart(3, '0')}`);
        await Promise.all(expected.map((key) => store.set(key, key)));
        await Promise.all(Array.from({ length: 50 }, (_, i) => store.set(`few:${i}`, i)));
        expect(await collect(store.keys('many:'))).toEqual(expected);
      });

      test('a prefix with glob characters matches literally', async () => {
        await store.set('a*b[1', 1);
        await store.set('a*b[2', 2);
        await store.set('aXYZb[3', 3);
        await store.set('a*b]4', 4);
        await store.set('q?\\x', 5);
        await store.set('qz\\x', 6);
        await store.set('qzx', 7);
        expect(await collect(store.keys('a*b['))).toEqual(['a*b[1', 'a*b[2']);
        expect(await collect(store.keys('q?\\'))).toEqual(['q?\\x']);
        expect(await collect(store.keys('[ab]'))).toEqual([]);
      });
    });

    describe('publish and subscribe', () => {
      test('every subscriber of the channel gets each message, in order', async () => {
        const first: string[] = [];
        const second: string[] = [];
        const elsewhere: string[] = [];
        await store.subscribe('news', (m) => first.push(m));
        await store.subscribe('news', (m) => second.push(m));
        await store.subscribe('sport', (m) => elsewhere.push(m));
        await store.publish('news', 'one');
        await store.publish('news', 'zwei 🎉');
        await store.publish('sport', 'goal');
        await until(() => first.length === 2 && second.length === 2 && elsewhere.length === 1, 'messages');
        expect(first).toEqual(['one', 'zwei 🎉']);
        expect(second).toEqual(['one', 'zwei 🎉']);
        expect(elsewhere).toEqual(['goal']);
      });

      test('unsubscribe stops delivery to that subscriber only', async () => {
        const kept: string[] = [];
        const dropped: string[] = [];
        await store.subscribe('ch', (m) => kept.push(m));
        const unsubscribe = await store.subscribe('ch', (m) => dropped.push(m));
        await store.publish('ch', 'before');
        await until(() => kept.length === 1 && dropped.length === 1, 'first message');
        await unsubscribe();
        await unsubscribe(); // idempotent
        await store.publish('ch', 'after');
        await store.publish('ch', 'marker');
        // Messages arrive in order, so once the marker is in, 'after' would have been too.
        await until(() => kept.length === 3, 'marker');
        expect(kept).toEqual(['before', 'after', 'marker']);
        expect(dropped).toEqual(['before']);
      });

      test('a message published just before unsubscribing is not delivered once unsubscribe is called', async () => {
        const kept: string[] = [];
        const late: string[] = [];
        await store.subscribe('ch', (m) => kept.push(m));
        const unsubscribe = await store.subscribe('ch', (m) => late.push(m));
        const publishing = store.publish('ch', 'in flight');
        await unsubscribe();
        await publishing;
        await store.publish('ch', 'marker');
        await until(() => kept.length === 2, 'marker');
        expect(kept).toEqual(['in flight', 'marker']);
        expect(late).toEqual([]);
      });

      test('after the last unsubscribe nothing arrives; subscribing again works', async () => {
        const gone: string[] = [];
        const watcher: string[] = [];
        await store.subscribe('watch', (m) => watcher.push(m));
        const unsubscribe = await store.subscribe('ch', (m) => gone.push(m));
        await unsubscribe();
        await store.publish('ch', 'lost');
        await store.publish('watch', 'marker');
        await until(() => watcher.length === 1, 'marker');
        expect(gone).toEqual([]);

        const again: string[] = [];
        await store.subscribe('ch', (m) => again.push(m));
        await store.publish('ch', 'found');
        await until(() => again.length === 1, 'resubscribed message');
        expect(again).toEqual(['found']);
        expect(gone).toEqual([]);
      });

      test('the same callback subscribed twice is called twice, until unsubscribed once', async () => {
        const got: string[] = [];
        const onMessage = (m: string): void => void got.push(m);
        const unsubscribe = await store.subscribe('dup', onMessage);
        await store.subscribe('dup', onMessage);
        await store.publish('dup', 'a');
        await until(() => got.length === 2, 'two deliveries');
        await unsubscribe();
        await store.publish('dup', 'b');
        await store.publish('dup', 'c');
        await until(() => got.length === 4, 'later messages');
        expect(got).toEqual(['a', 'a', 'b', 'c']);
      });

      test('a throwing subscriber does not stop the others; publishing to nobody is fine', async () => {
        const got: string[] = [];
        await store.subscribe('ch', () => {
          throw new Error('subscriber bug');
        });
        await store.subscribe('ch', (m) => got.push(m));
        await store.publish('nobody-listens', 'hello?');
        await store.publish('ch', 'x');
        await until(() => got.length === 1, 'message');
        expect(got).toEqual(['x']);
      });

      test('delivery is asynchronous: never on the publisher stack', async () => {
        const got: string[] = [];
        await store.subscribe('ch', (m) => got.push(m));
        const publishing = store.publish('ch', 'm');
        expect(got).toEqual([]);
        await publishing;
        await until(() => got.length === 1, 'message');
      });
    });

    test('ping answers true', async () => {
      expect(await store.ping()).toBe(true);
    });

    // The one test that waits for time to pass: everything that expires, checked together.
    test('expired keys are gone for every operation', async () => {
      await store.set('value', 'v', { ttl: 1 });
      await store.set('kept', 'k', { ttl: 100 });
      await store.set('taken', 't', { ttl: 1 });
      await store.set('nx', 'old', { ttl: 1 });
      await store.set('deleted', 'd', { ttl: 1 });
      await store.increment('counter', 1);
      await store.increment('counter', 1);
      await store.addToSet('set', ['a'], 1);
      await store.addToSet('set', ['b'], 1);
      await store.set('ttl', 'x', { ttl: 1 });
      expect(await store.get('value')).toBe('v');
      expect(await store.ttl('ttl')).toBe(1);
      expect(await store.getMany(['value', 'taken'])).toEqual(['v', 't']);

      await new Promise((resolve) => setTimeout(resolve, 1200));

      expect(await store.get('value')).toBeUndefined();
      expect(await store.getMany(['value', 'kept', 'counter'])).toEqual([undefined, 'k', undefined]);
      expect(await store.take('taken')).toBeUndefined();
      expect(await store.delete('deleted')).toBe(0);
      expect(await store.ttl('ttl')).toBeUndefined();
      expect(await store.setMembers('set')).toEqual([]);
      expect(await collect(store.keys(''))).toEqual(['kept']);
      expect(await store.set('nx', 'new', { onlyIfAbsent: true })).toBe(true);
      expect(await store.get('nx')).toBe('new');
      expect(await store.increment('counter')).toBe(1);
      expect(await store.ttl('counter')).toBe(0);
      await store.addToSet('set', ['c'], 0);
      expect(await store.setMembers('set')).toEqual(['c']);
    });
  });
}
