/**
 * Upstream tokens sealed at rest (auth/src/upstream/token-vault.ts), on a real redis-server: the
 * stored bytes never contain a token, a record opens only under its own key and storage key, and
 * the sealing key comes from UPSTREAM_TOKEN_KEY or is generated once for every replica.
 */
import { Redis } from 'ioredis';
import { RedisStore } from '../../auth/src/storage/redis.ts';
import { upstreamTokenKey } from '../../auth/src/storage/keys.ts';
import { loadUpstreamKey, UpstreamTokenVault, type UpstreamTokens } from '../../auth/src/upstream/token-vault.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';

const PREFIX = 'vault:';
let redis: RedisServer;
let store: RedisStore;
let raw: Redis;

beforeAll(async () => {
  redis = await startRedis();
  store = new RedisStore({ url: redis.url, keyPrefix: PREFIX });
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw.disconnect();
  await store.close();
  await redis.stop();
});

const tokens: UpstreamTokens = {
  access_token: 'gho_UPSTREAM_ACCESS_TOKEN_value',
  refresh_token: 'ghr_UPSTREAM_REFRESH_TOKEN_value',
  expires_at: 2_000_000_000,
  scope: 'repo read:org',
  issuer: 'https://github.com',
};

test('a round trip; in Redis only ciphertext, never the token text', async () => {
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
  await vault.save('github', 'github:1', tokens, 3600);
  expect(await vault.find('github', 'github:1')).toEqual(tokens);
  const stored = await raw.get(PREFIX + upstreamTokenKey('github', 'github:1'));
  expect(stored).toBeTruthy();
  for (const secret of [tokens.access_token, tokens.refresh_token!, 'UPSTREAM', 'repo read:org']) {
    expect(stored).not.toContain(secret);
  }
  expect(JSON.parse(stored!)).toMatchObject({ v: 1, iv: expect.any(String), tag: expect.any(String) });
  expect(await raw.ttl(PREFIX + upstreamTokenKey('github', 'github:1'))).toBeGreaterThan(3500);
});

test("a sealed record moved to another user's or service's key does not open", async () => {
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
  await vault.save('github', 'github:1', tokens);
  const sealed = await raw.get(PREFIX + upstreamTokenKey('github', 'github:1'));
  await raw.set(PREFIX + upstreamTokenKey('github', 'github:2'), sealed!);
  await raw.set(PREFIX + upstreamTokenKey('linear', 'github:1'), sealed!);
  expect(await vault.find('github', 'github:2')).toBeUndefined();
  expect(await vault.find('linear', 'github:1')).toBeUndefined();
});

test('a tampered record does not open', async () => {
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
  await vault.save('github', 'github:3', tokens);
  const where = PREFIX + upstreamTokenKey('github', 'github:3');
  const sealed = JSON.parse((await raw.get(where))!) as { data: string };
  const flipped = Buffer.from(sealed.data, 'base64url');
  flipped[0] = flipped[0]! ^ 1;
  await raw.set(where, JSON.stringify({ ...sealed, data: flipped.toString('base64url') }));
  expect(await vault.find('github', 'github:3')).toBeUndefined();
  await raw.set(where, '"not a sealed record"');
  expect(await vault.find('github', 'github:3')).toBeUndefined();
});

test('UPSTREAM_TOKEN_KEY: the same setting opens what another replica sealed; another key does not', async () => {
  const a = new UpstreamTokenVault(store, await loadUpstreamKey(store, 'a-configured-secret-of-32-characters!'));
  const b = new UpstreamTokenVault(store, await loadUpstreamKey(store, 'a-configured-secret-of-32-characters!'));
  const other = new UpstreamTokenVault(store, await loadUpstreamKey(store, 'another-secret-of-at-least-32-chars'));
  await a.save('github', 'github:4', tokens);
  expect(await b.find('github', 'github:4')).toEqual(tokens);
  expect(await other.find('github', 'github:4')).toBeUndefined();
});

test('without the setting, replicas starting together agree on one generated key', async () => {
  const fresh = new RedisStore({ url: redis.url, keyPrefix: 'vault-fresh:' });
  try {
    const keys = await Promise.all([loadUpstreamKey(fresh), loadUpstreamKey(fresh), loadUpstreamKey(fresh)]);
    expect(keys[0]).toHaveLength(32);
    expect(keys.every((k) => k.equals(keys[0]!))).toBe(true);
  } finally {
    await fresh.close();
  }
});

test('holders: who holds tokens, per service or at all; delete removes one', async () => {
  const scoped = new RedisStore({ url: redis.url, keyPrefix: 'vault-holders:' });
  try {
    const vault = new UpstreamTokenVault(scoped, await loadUpstreamKey(scoped));
    await vault.save('github', 'github:1', tokens);
    await vault.save('github', 'oidc:a:b', tokens);
    await vault.save('linear', 'github:1', tokens);
    const list = async (service?: string) => {
      const out: string[] = [];
      for await (const h of vault.holders(service)) out.push(`${h.service} ${h.userId}`);
      return out.sort();
    };
    expect(await list('github')).toEqual(['github github:1', 'github oidc:a:b']);
    expect(await list()).toEqual(['github github:1', 'github oidc:a:b', 'linear github:1']);
    expect(await vault.delete('github', 'oidc:a:b')).toBe(true);
    expect(await vault.delete('github', 'oidc:a:b')).toBe(false);
    expect(await list('github')).toEqual(['github github:1']);
  } finally {
    await scoped.close();
  }
});

test('a key of the wrong size is refused', () => {
  expect(() => new UpstreamTokenVault(store, Buffer.alloc(16))).toThrow(/32 bytes/);
});
