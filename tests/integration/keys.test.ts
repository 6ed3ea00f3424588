/**
 * Signing keys: generated once and kept, set by SIGNING_KEY, rotated without breaking tokens
 * in flight, published at /jwks while they verify anything.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { decodeJwt, tokenRequest } from '../support/oauth.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { loadSigningKeys, readKeySet, rotateSigningKey } from '../../auth/src/oidc/keys.ts';
import { SIGNING_KEYS_KEY } from '../../auth/src/storage/keys.ts';
import type { Json } from '../../auth/src/storage/store.ts';

let github: GitHubStandin;
beforeAll(async () => {
  github = await startGitHubStandin();
});
afterAll(async () => {
  await github.stop();
});

test('a key is generated on first start and kept; replicas starting together agree on it', async () => {
  const store = new MemoryStore();
  const [a, b] = await Promise.all([
    loadSigningKeys(store, { accessTokenLifetime: 3600 }),
    loadSigningKeys(store, { accessTokenLifetime: 3600 }),
  ]);
  expect(a.map((k) => k.kid)).toEqual(b.map((k) => k.kid));
  expect(a).toHaveLength(1);
  const again = await loadSigningKeys(store, { accessTokenLifetime: 3600 });
  expect(again[0]!.kid).toBe(a[0]!.kid);
  await store.close();
});

test('SIGNING_KEY signs; the generated key it replaces verifies until it retires', async () => {
  const store = new MemoryStore();
  const generated = await loadSigningKeys(store, { accessTokenLifetime: 3600 });
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const keys = await loadSigningKeys(store, { accessTokenLifetime: 3600, signingKeyPem: pem });
  expect(keys).toHaveLength(2);
  expect(keys[0]!.retiresAt).toBeUndefined();
  expect(keys[1]!.kid).toBe(generated[0]!.kid);
  expect(keys[1]!.retiresAt).toBeGreaterThan(Date.now() / 1000 + 3600);
  // Retired keys leave the set.
  await store.set(SIGNING_KEYS_KEY, { keys: [keys[0], { ...keys[1], retiresAt: 1 }] } as unknown as Json);
  expect((await readKeySet(store)).map((k) => k.kid)).toEqual([keys[0]!.kid]);
  await store.close();
});

test('rotation: new tokens use the new key, old tokens verify until they expire, /jwks lists both, replicas follow', async () => {
  const store = new MemoryStore();
  const before = await startAuth({ github, store });
  const old = await runFlow({ base: before.url, github });
  const oldKid = decodeJwt(old.token!.body.access_token!).header.kid;
  await before.stop();

  await rotateSigningKey(store, 3600);
  const after = await startAuth({ github, store });
  // A replica still running with the old key set, e.g. one not yet restarted.
  const replica = before.service.verifier;

  const fresh = await runFlow({ base: after.url, github });
  const newKid = decodeJwt(fresh.token!.body.access_token!).header.kid;
  expect(newKid).not.toBe(oldKid);

  const jwks = (await (await fetch(`${after.url}/jwks`)).json()) as { keys: { kid: string; d?: string }[] };
  expect(jwks.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
  expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  await jwtVerify(fresh.token!.body.access_token!, createLocalJWKSet(jwks as never));

  // Both verify at the new instance (issuer differs per test server, so check signatures by kid).
  expect(await after.service.verifier.key(String(oldKid))).toBeDefined();
  expect(await after.service.verifier.key(String(newKid))).toBeDefined();
  // The old replica learns the new key from storage on first sight of its kid.
  expect(await replica.key(String(newKid))).toBeDefined();

  const introspected = await tokenRequest(
    after.url,
    fresh.auth,
    { token: fresh.token!.body.access_token! },
    '/introspect',
  );
  expect(introspected.body.active).toBe(true);
  await after.stop();
  await store.close();
});

test('an unknown kid is refused', async () => {
  const store = new MemoryStore();
  const gw = await startAuth({ github, store });
  await expect(gw.service.verifier.key('no-such-kid')).rejects.toThrow(/unknown key/);
  await gw.stop();
  await store.close();
});
