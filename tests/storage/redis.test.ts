/**
 * RedisStore against a real redis-server: the shared contract, plus what only Redis has —
 * the key prefix, authentication, and behaviour when the server goes away.
 */
import { Redis } from 'ioredis';
import { RedisStore } from '../../auth/src/storage/redis.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { storeSuite, until } from './store.suite.ts';

let server: RedisServer;
let raw: Redis;
let n = 0;
/** A key space of its own for each store, so tests sharing the server cannot see each other. */
const uniquePrefix = (): string => `test:${++n}:`;

beforeAll(async () => {
  server = await startRedis();
  raw = new Redis(server.url);
});
afterAll(async () => {
  await raw?.quit();
  await server?.stop();
});

storeSuite('RedisStore', async () => {
  const store = new RedisStore({ url: server.url, keyPrefix: uniquePrefix() });
  return { store, cleanup: () => store.close() };
});

describe('RedisStore specifics', () => {
  const stores: RedisStore[] = [];
  const open = (keyPrefix: string, url = server.url): RedisStore => {
    const store = new RedisStore({ url, keyPrefix });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  test('a dropped subscriber connection is reported as a gap, twice: on loss and on resubscription', async () => {
    const store = open(uniquePrefix());
    const got: string[] = [];
    const gaps: string[] = [];
    await store.subscribe(
      'events',
      (m) => got.push(m),
      (phase) => gaps.push(phase),
    );
    await raw.client('KILL', 'TYPE', 'pubsub');
    await until(() => gaps.length === 2, 'two gap reports');
    expect(gaps).toEqual(['lost', 'resumed']);
    // Delivery works again after the resubscription.
    await store.publish('events', 'after');
    await until(() => got.includes('after'), 'delivery after reconnect');
  });

  test('every key and channel carries the prefix', async () => {
    const prefix = uniquePrefix();
    const store = open(prefix);
    await store.set('value', { a: 1 }, { ttl: 100 });
    await store.increment('counter');
    await store.addToSet('set', ['m']);
    expect((await raw.keys(`${prefix}*`)).sort()).toEqual([`${prefix}counter`, `${prefix}set`, `${prefix}value`]);
    expect(await raw.get(`${prefix}value`)).toBe('{"a":1}');
    expect(await raw.ttl(`${prefix}value`)).toBeGreaterThan(98);
    expect(await raw.smembers(`${prefix}set`)).toEqual(['m']);
    expect(await raw.exists('value', 'counter', 'set')).toBe(0);

    await raw.set(`${prefix}planted`, '"from outside"');
    expect(await store.get('planted')).toBe('from outside');

    const got: string[] = [];
    await store.subscribe('events', (m) => got.push(m));
    expect(await raw.publish(`${prefix}events`, 'raw')).toBe(1);
    await store.publish('events', 'store');
    await until(() => got.length === 2, 'delivery');
    expect(got).toEqual(['raw', 'store']);
    expect(await raw.pubsub('CHANNELS', `${prefix}*`)).toEqual([`${prefix}events`]);
  });

  test('the oidc: keys keep their names on one Redis: the hash tags are the cluster store’s alone', async () => {
    // Data written before REDIS_CLUSTER_NODES existed reads as before (docs/storage.md, "Redis Cluster").
    const prefix = uniquePrefix();
    const store = open(prefix);
    await raw.set(`${prefix}oidc:Grant:g1`, '{"accountId":"u"}');
    await raw.set(`${prefix}oidc:RefreshToken:r1:consumed`, '1234');
    expect(await store.getMany(['oidc:Grant:g1', 'oidc:RefreshToken:r1:consumed'])).toEqual([{ accountId: 'u' }, 1234]);
    await store.addToSet('oidc:grant:g1', ['oidc:RefreshToken:r1']);
    expect((await raw.keys(`${prefix}*`)).sort()).toEqual(
      ['oidc:Grant:g1', 'oidc:RefreshToken:r1:consumed', 'oidc:grant:g1'].map((key) => prefix + key),
    );
  });

  test('stores with different prefixes see neither keys nor messages of the other', async () => {
    // 'p*' unescaped in SCAN MATCH would also match the keys of 'px'.
    const a = open('p*');
    const b = open('px');
    await a.set('k', 'from a');
    await b.set('k', 'from b');
    await b.set('only-b', 1);
    await b.addToSet('s', ['b']);
    expect(await a.get('k')).toBe('from a');
    expect(await b.get('k')).toBe('from b');
    expect(await a.get('only-b')).toBeUndefined();
    expect(await a.setMembers('s')).toEqual([]);
    const aKeys: string[] = [];
    for await (const key of a.keys('')) aKeys.push(key);
    expect(aKeys).toEqual(['k']);
    expect(await a.delete('k', 'only-b', 's')).toBe(1);
    expect(await b.get('k')).toBe('from b');

    const toA: string[] = [];
    const toB: string[] = [];
    await a.subscribe('ch', (m) => toA.push(m));
    await b.subscribe('ch', (m) => toB.push(m));
    await a.publish('ch', 'for a');
    await b.publish('ch', 'for b');
    await until(() => toA.length > 0 && toB.length > 0, 'delivery');
    // Each store's connection delivers in order, so a marker after the message proves it did not cross.
    await a.publish('ch', 'marker');
    await until(() => toA.length === 2, 'delivery');
    expect(toA).toEqual(['for a', 'marker']);
    expect(toB).toEqual(['for b']);
  });

  test('a password-protected server works with the password in the URL', async () => {
    const password = 'p@ss:w/rd?#1';
    const secured = await startRedis({ password });
    try {
      expect(secured.url).toBe(`redis://:${encodeURIComponent(password)}@127.0.0.1:${secured.port}`);
      const store = open('auth:', secured.url);
      expect(await store.ping()).toBe(true);
      await store.set('k', 'v');
      expect(await store.get('k')).toBe('v');
      const got: string[] = [];
      await store.subscribe('ch', (m) => got.push(m));
      await store.publish('ch', 'secret hello');
      await until(() => got.length === 1, 'delivery');

      const anonymous = open('auth:', `redis://127.0.0.1:${secured.port}`);
      expect(await anonymous.ping()).toBe(false);
      await expect(anonymous.get('k')).rejects.toThrow();
    } finally {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await secured.stop();
    }
  });

  test('when the server is gone, ping says false and commands fail fast', async () => {
    const doomed = await startRedis();
    const store = open('gone:', doomed.url);
    expect(await store.ping()).toBe(true);
    await store.subscribe('ch', () => undefined);
    await doomed.stop();

    const started = Date.now();
    expect(await store.ping()).toBe(false);
    await expect(store.get('k')).rejects.toThrow();
    await expect(store.set('k', 1)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
