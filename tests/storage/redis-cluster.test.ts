/**
 * RedisStore on a real Redis Cluster (three masters started by tests/support/redis-cluster.ts):
 * the shared contract, then what only a cluster has — keys spread over every master, the hash
 * tags that keep a token with its `:consumed` mark and a grant with its index, multi-key commands
 * across slots, SCAN over every master, pub/sub through a node that goes away, a password, and
 * failing fast when nodes, or all of them, are gone.
 */
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { freePort } from '../../auth/src/http/free-port.ts';
import { keySlot, NodeSubscriber } from '../../auth/src/storage/cluster.ts';
import { clusterKey, clusterKeyPrefix, keyOfClusterKey } from '../../auth/src/storage/keys.ts';
import { isStorageOutage } from '../../auth/src/storage/outage.ts';
import { RedisStore, StorageUnavailable } from '../../auth/src/storage/redis.ts';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts';
import { storeSuite, until } from './store.suite.ts';

let cluster: RedisCluster;
let raw: Cluster;
let n = 0;
/** A key space of its own for each store, so tests sharing the cluster cannot see each other. */
const uniquePrefix = (): string => `test:${++n}:`;
const nodesOf = (c: RedisCluster) => c.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));

beforeAll(async () => {
  cluster = await startRedisCluster();
  raw = new Cluster(nodesOf(cluster));
}, 60_000);
afterAll(async () => {
  await raw?.quit();
  await cluster?.stop();
});

storeSuite('RedisStore on a Redis Cluster', async () => {
  const store = new RedisStore({ cluster: { nodes: nodesOf(cluster) }, keyPrefix: uniquePrefix() });
  return { store, cleanup: () => store.close() };
});

/** Every key under `pattern` on each master, one list per master. */
async function keysByMaster(pattern: string): Promise<string[][]> {
  return Promise.all(raw.nodes('master').map((node) => node.keys(pattern)));
}

describe('hash tags (keys.ts)', () => {
  test('the oidc: keys get their id as tag, every other key keeps its name', () => {
    expect(clusterKey('oidc:Grant:g1')).toBe('oidc:Grant:{g1}');
    expect(clusterKey('oidc:grant:g1')).toBe('oidc:grant:{g1}');
    expect(clusterKey('oidc:RefreshToken:r1:consumed')).toBe('oidc:RefreshToken:{r1}:consumed');
    expect(clusterKey('oidc:client-grants:https://app.example/cimd.json')).toBe(
      'oidc:client-grants:{https://app.example/cimd.json}',
    );
    expect(clusterKey('revoked:at:j1')).toBe('revoked:at:j1');
    expect(clusterKey('consent:u:{c}')).toBe('consent:u:{c}');
    expect(clusterKey('oidc:')).toBe('oidc:');
    expect(clusterKeyPrefix('oidc:Client:')).toBe('oidc:Client:{');
    expect(clusterKeyPrefix('oidc:Cli')).toBe('oidc:Cli');
    expect(clusterKeyPrefix('revoked:at:')).toBe('revoked:at:');
  });

  test('every key maps to a name of its own and back; a key and its :consumed mark share a slot', () => {
    const key = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', ':', '{', '}', 'é', 'consumed', ':consumed', 'oidc:', 'Grant') }),
      fc.string().map((s) => `oidc:Grant:${s}`),
      fc.string().map((s) => `oidc:RefreshToken:${s}:consumed`),
    );
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(keyOfClusterKey(clusterKey(a))).toBe(a);
        if (a !== b) expect(clusterKey(a)).not.toBe(clusterKey(b));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.constantFrom('Grant', 'RefreshToken', 'AuthorizationCode'),
        (id, model) => {
          fc.pre(!id.startsWith('}'));
          const stored = clusterKey(`oidc:${model}:${id}`);
          expect(keySlot(`p:${clusterKey(`oidc:${model}:${id}:consumed`)}`)).toBe(keySlot(`p:${stored}`));
        },
      ),
    );
  });

  test('keySlot is the slot Redis computes (CLUSTER KEYSLOT)', async () => {
    const keys = [
      '',
      'a',
      'foo',
      '{user1000}.following',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      'ключ:🗝',
      '{}',
      '{a',
    ];
    for (let i = 0; i < 200; i++) keys.push(`mcpgw:k:${i}:${'é'.repeat(i % 7)}`);
    const expected = await Promise.all(keys.map((key) => raw.cluster('KEYSLOT', key)));
    expect(keys.map(keySlot)).toEqual(expected);
  });
});

describe('RedisStore on a Redis Cluster: specifics', () => {
  const stores: RedisStore[] = [];
  const open = (keyPrefix: string, options: { nodes?: { host: string; port: number }[]; password?: string } = {}) => {
    const store = new RedisStore({
      cluster: {
        nodes: options.nodes ?? nodesOf(cluster),
        ...(options.password ? { password: options.password } : {}),
      },
      keyPrefix,
    });
    stores.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  test('keys spread over every master; multi-key commands and SCAN span them all', async () => {
    const prefix = uniquePrefix();
    const store = open(prefix);
    const keys = Array.from({ length: 300 }, (_, i) => `spread:${i}`);
    await Promise.all(keys.map((key, i) => store.set(key, i)));
    const perMaster = await keysByMaster(`${prefix}spread:*`);
    expect(perMaster).toHaveLength(3);
    for (const held of perMaster) expect(held.length).toBeGreaterThan(50);
    expect(perMaster.flat().sort()).toEqual(keys.map((key) => prefix + key).sort());

    // One call, keys of every master (and absent ones): values in order, counts summed.
    const asked = [...keys.slice(0, 100), 'absent:1', 'spread:0', 'absent:2'];
    expect(await store.getMany(asked)).toEqual([...keys.slice(0, 100).map((_, i) => i), undefined, 0, undefined]);
    expect(await store.hasMany(asked)).toEqual([...keys.slice(0, 100).map(() => true), false, true, false]);
    const listed: string[] = [];
    for await (const key of store.keys('spread:')) listed.push(key);
    expect(listed.sort()).toEqual([...keys].sort());
    expect(await store.delete(...keys.slice(0, 150), 'absent:1')).toBe(150);
    expect((await keysByMaster(`${prefix}spread:*`)).flat()).toHaveLength(150);
  });

  test('a grant with its index, a token with its :consumed mark: one slot each, as the gateway names them', async () => {
    const prefix = uniquePrefix();
    const store = open(prefix);
    await store.set('oidc:Grant:g1', { accountId: 'u' }, { ttl: 100 });
    await store.addToSet('oidc:grant:g1', ['oidc:RefreshToken:r1', 'oidc:AuthorizationCode:c1'], 100);
    await store.set('oidc:RefreshToken:r1', { grantId: 'g1' }, { ttl: 100 });
    await store.set('oidc:RefreshToken:r1:consumed', 1234, { ttl: 100 });
    await store.set('oidc:Client:https://app.example/{weird}', { client_id: 'x' });

    const stored = (await keysByMaster(`${prefix}*`)).flat().sort();
    expect(stored).toEqual(
      [
        'oidc:Client:{https://app.example/{weird}}',
        'oidc:Grant:{g1}',
        'oidc:RefreshToken:{r1}',
        'oidc:RefreshToken:{r1}:consumed',
        'oidc:grant:{g1}',
      ].map((key) => prefix + key),
    );
    const slot = (key: string) => raw.cluster('KEYSLOT', prefix + key);
    expect(await slot('oidc:Grant:{g1}')).toBe(await slot('oidc:grant:{g1}'));
    expect(await slot('oidc:RefreshToken:{r1}')).toBe(await slot('oidc:RefreshToken:{r1}:consumed'));

    // The store speaks the gateway's names: reads, sets, SCAN, deletes.
    expect(await store.getMany(['oidc:RefreshToken:r1', 'oidc:RefreshToken:r1:consumed'])).toEqual([
      { grantId: 'g1' },
      1234,
    ]);
    expect((await store.setMembers('oidc:grant:g1')).sort()).toEqual([
      'oidc:AuthorizationCode:c1',
      'oidc:RefreshToken:r1',
    ]);
    const listed: string[] = [];
    for await (const key of store.keys('oidc:')) listed.push(key);
    expect(listed.sort()).toEqual([
      'oidc:Client:https://app.example/{weird}',
      'oidc:Grant:g1',
      'oidc:RefreshToken:r1',
      'oidc:RefreshToken:r1:consumed',
      'oidc:grant:g1',
    ]);
    const consumedOnly: string[] = [];
    for await (const key of store.keys('oidc:RefreshToken:r1:')) consumedOnly.push(key);
    expect(consumedOnly).toEqual(['oidc:RefreshToken:r1:consumed']);
    expect(await store.get('oidc:Client:https://app.example/{weird}')).toEqual({ client_id: 'x' });
    expect(
      await store.delete('oidc:grant:g1', 'oidc:Grant:g1', 'oidc:RefreshToken:r1', 'oidc:RefreshToken:r1:consumed'),
    ).toBe(4);
    expect((await keysByMaster(`${prefix}*`)).flat()).toEqual([`${prefix}oidc:Client:{https://app.example/{weird}}`]);
  });

  test('pub/sub: its node dropping the connection is a gap, reported twice, and delivery resumes', async () => {
    const store = open(uniquePrefix());
    const got: string[] = [];
    const gaps: string[] = [];
    await store.subscribe(
      'events',
      (m) => got.push(m),
      (phase) => gaps.push(phase),
    );
    await store.publish('events', 'before');
    await until(() => got.includes('before'), 'delivery');
    // Whichever node holds the subscriber connection drops it.
    await Promise.all(raw.nodes('all').map((node) => node.client('KILL', 'TYPE', 'pubsub')));
    await until(() => gaps.length === 2, 'two gap reports');
    expect(gaps).toEqual(['lost', 'resumed']);
    await store.publish('events', 'after');
    await until(() => got.includes('after'), 'delivery after the move');
  });

  test('the pub/sub connection tries the nodes in turn; with none up, subscribe fails as an outage', async () => {
    const dead = { host: '127.0.0.1', port: await freePort() };
    const live = nodesOf(cluster)[2]!;
    const got: string[] = [];
    const gaps: string[] = [];
    const subscriber = new NodeSubscriber({
      nodes: () => [dead, dead, live],
      redisOptions: {},
      onMessage: (channel, message) => got.push(`${channel} ${message}`),
      onGap: (phase) => gaps.push(phase),
    });
    const nobody = new NodeSubscriber({
      nodes: () => [dead],
      redisOptions: {},
      onMessage: () => undefined,
      onGap: () => undefined,
    });
    try {
      await subscriber.subscribe('direct');
      await raw.nodes('master')[0]!.publish('direct', 'hello');
      await until(() => got.length === 1, 'delivery');
      expect(got).toEqual(['direct hello']);
      expect(gaps).toEqual([]);
      const refused = await nobody.subscribe('direct').catch((err: unknown) => err);
      expect(isStorageOutage(refused)).toBe(true);
    } finally {
      await Promise.all([subscriber.close(), nobody.close()]);
    }
  });

  test('a message published on any node reaches a subscriber on any other', async () => {
    const prefix = uniquePrefix();
    const listener = open(prefix);
    const got: string[] = [];
    await listener.subscribe('ch', (m) => got.push(m));
    // Each master publishes once, straight to itself.
    for (const [i, node] of raw.nodes('master').entries()) await node.publish(`${prefix}ch`, `from ${i}`);
    await until(() => got.length === 3, 'three messages');
    expect(got.sort()).toEqual(['from 0', 'from 1', 'from 2']);
  });
});

describe('RedisStore on a Redis Cluster with a password', () => {
  let secured: RedisCluster;
  beforeAll(async () => {
    secured = await startRedisCluster({ password: 'cl@ster pass' });
  }, 60_000);
  afterAll(async () => {
    await secured?.stop();
  });

  test('works with the password; without it, the start is refused for the credentials', async () => {
    const store = new RedisStore({ cluster: { nodes: nodesOf(secured), password: 'cl@ster pass' }, keyPrefix: 'pw:' });
    const anonymous = new RedisStore({ cluster: { nodes: nodesOf(secured) }, keyPrefix: 'pw:' });
    try {
      await store.connected(10_000);
      expect(await store.ping()).toBe(true);
      await store.set('k', 'v');
      expect(await store.getMany(['k', 'other'])).toEqual(['v', undefined]);
      const got: string[] = [];
      await store.subscribe('ch', (m) => got.push(m));
      await store.publish('ch', 'secret hello');
      await until(() => got.length === 1, 'delivery');

      const refused = await anonymous.connected(10_000).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(StorageUnavailable);
      expect((refused as StorageUnavailable).kind).toBe('credentials');
      expect((refused as Error).message).toMatch(
        /^the Redis Cluster at 127\.0\.0\.1:\d+,.* refused the credentials \(NOAUTH.*check REDIS_PASSWORD/,
      );
      expect(await anonymous.ping()).toBe(false);
    } finally {
      await Promise.all([store.close(), anonymous.close()]);
    }
  });
});

describe('RedisStore on a Redis Cluster that fails', () => {
  let doomed: RedisCluster;
  beforeAll(async () => {
    doomed = await startRedisCluster({ nodeTimeoutMs: 1000 });
  }, 60_000);
  afterAll(async () => {
    await doomed?.stop();
  });

  /** A command's failure: how long it took, and whether it counts as an outage (503). */
  const failure = async (command: Promise<unknown>): Promise<{ ms: number; outage: boolean }> => {
    const started = Date.now();
    const err = await command.then(
      () => undefined,
      (e: unknown) => e,
    );
    return { ms: Date.now() - started, outage: err !== undefined && isStorageOutage(err) };
  };

  test('a master gone: its keys fail fast as an outage, the others work, ping says false; then it is back', async () => {
    const store = new RedisStore({ cluster: { nodes: nodesOf(doomed) }, keyPrefix: 'part:' });
    try {
      await store.connected(10_000);
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((key) => store.set(key, key)));
      const victim = doomed.nodes[0]!;
      const direct = new Redis(victim.url);
      const onVictim = new Set((await direct.keys('part:*')).map((key) => key.slice('part:'.length)));
      direct.disconnect();
      expect(onVictim.size).toBeGreaterThan(0);
      await victim.kill();

      const lost = keys.find((key) => onVictim.has(key))!;
      const kept = keys.find((key) => !onVictim.has(key))!;
      const result = await failure(store.get(lost));
      expect(result).toEqual({ ms: expect.any(Number), outage: true });
      expect(result.ms).toBeLessThan(3000);
      expect(await store.get(kept)).toBe(kept);
      expect((await failure(store.getMany([kept, lost]))).outage).toBe(true);
      const walk = async () => {
        for await (const key of store.keys('')) void key;
      };
      expect((await failure(walk())).outage).toBe(true);
      expect(await store.ping()).toBe(false);
      // Pub/sub needs no slot: a subscription made now is taken by a node that is up.
      const got: string[] = [];
      await store.subscribe('news', (m) => got.push(m));
      await store.publish('news', 'while a master is down');
      await until(() => got.length === 1, 'delivery');

      await victim.restart();
      await doomed.healthy();
      // Its data went with it (no append-only file here), but it serves its slots again.
      for (const until = Date.now() + 15_000; ;) {
        if ((await store.set(lost, 'again').catch(() => false)) === true) break;
        if (Date.now() > until) throw new Error('the master did not come back');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await store.get(lost)).toBe('again');
      expect(await store.ping()).toBe(true);
    } finally {
      await store.close();
    }
  }, 60_000);

  test('every node gone: commands fail at once, the feed reports a gap; all back: everything works', async () => {
    const store = new RedisStore({ cluster: { nodes: nodesOf(doomed) }, keyPrefix: 'all:' });
    try {
      await store.connected(10_000);
      const gaps: string[] = [];
      const got: string[] = [];
      await store.subscribe(
        'ch',
        (m) => got.push(m),
        (phase) => gaps.push(phase),
      );
      await store.set('k', 1);
      await doomed.kill();
      await until(() => gaps.includes('lost'), 'the gap');

      const started = Date.now();
      expect(await store.ping()).toBe(false);
      for (const command of [store.get('k'), store.set('k', 2), store.getMany(['a', 'b', 'c']), store.delete('k')]) {
        expect(await failure(command)).toEqual({ ms: expect.any(Number), outage: true });
      }
      expect(Date.now() - started).toBeLessThan(5000);

      await doomed.restart();
      for (const until = Date.now() + 15_000; ;) {
        if ((await store.set('k', 3).catch(() => false)) === true) break;
        if (Date.now() > until) throw new Error('the cluster did not come back');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await store.get('k')).toBe(3);
      expect(await store.ping()).toBe(true);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (gaps.includes('resumed')) resolve(void clearInterval(check));
        }, 20);
      });
      expect(gaps).toEqual(['lost', 'resumed']);
      await store.publish('ch', 'back');
      await until(() => got.includes('back'), 'delivery after the return');
    } finally {
      await store.close();
    }
  }, 60_000);
});
