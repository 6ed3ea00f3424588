/**
 * Signing keys and cookie secrets.
 *
 * Access tokens are RS256 JWTs. The key set lives in storage (`keys:signing`), newest first:
 * the first key signs, every key in the set verifies and is published at /jwks. A key set by
 * SIGNING_KEY is put first; otherwise a key is generated on first start (SET NX, so replicas
 * starting together agree on one). Rotation (docs/keys.md) puts a new key first and marks the
 * others to retire once every token they signed has expired (ACCESS_TOKEN_LIFETIME + leeway).
 * Verifiers (introspection, /verify) reload the set when they meet an unknown `kid`.
 */
import { COOKIE_SECRETS_KEY, SIGNING_KEYS_KEY } from '../storage/keys.ts';
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Json, Store } from '../storage/store.ts';

/** Clock leeway added to a retiring key's lifetime. */
const RETIRE_LEEWAY = 300;

export interface StoredKey {
  kid: string;
  /** Private RSA JWK. */
  jwk: JWK;
  createdAt: number;
  /** Epoch seconds after which the key is dropped; absent for the signing key. */
  retiresAt?: number;
}

interface KeySet {
  keys: StoredKey[];
}

const now = () => Math.floor(Date.now() / 1000);

async function toStoredKey(key: KeyObject): Promise<StoredKey> {
  const jwk = key.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' }, createdAt: now() };
}

export async function generateSigningKey(): Promise<StoredKey> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return toStoredKey(privateKey);
}

function live(keys: StoredKey[]): StoredKey[] {
  const t = now();
  return keys.filter((k) => k.retiresAt === undefined || k.retiresAt > t);
}

/** Puts `key` first and schedules every other key to retire. */
function promote(keys: StoredKey[], key: StoredKey, accessTokenLifetime: number): StoredKey[] {
  const retiresAt = now() + accessTokenLifetime + RETIRE_LEEWAY;
  const others = keys.filter((k) => k.kid !== key.kid).map((k) => ({ ...k, retiresAt: k.retiresAt ?? retiresAt }));
  return [{ ...key, retiresAt: undefined }, ...live(others)];
}

export async function readKeySet(store: Store): Promise<StoredKey[]> {
  const set = await store.get<Json>(SIGNING_KEYS_KEY);
  return live(((set as unknown as KeySet | undefined)?.keys ?? []) as StoredKey[]);
}

async function writeKeySet(store: Store, keys: StoredKey[]): Promise<void> {
  await store.set(SIGNING_KEYS_KEY, { keys } as unknown as Json);
}

/**
 * The key set the provider starts with, signing key first. Creates or promotes keys as
 * SIGNING_KEY and the stored set require.
 */
export async function loadSigningKeys(
  store: Store,
  opts: { signingKeyPem?: string; accessTokenLifetime: number },
): Promise<StoredKey[]> {
  let keys = await readKeySet(store);
  if (opts.signingKeyPem) {
    const configured = await toStoredKey(createPrivateKey(opts.signingKeyPem));
    if (keys[0]?.kid !== configured.kid) {
      keys = promote(keys, configured, opts.accessTokenLifetime);
      await writeKeySet(store, keys);
    }
    return keys;
  }
  if (keys.length === 0) {
    const created = await generateSigningKey();
    // Replicas starting together: the first writer wins, the others read its key.
    const wrote = await store.set(SIGNING_KEYS_KEY, { keys: [created] } as unknown as Json, { onlyIfAbsent: true });
    if (wrote) return [created];
    keys = await readKeySet(store);
    if (keys.length === 0) {
      keys = [created];
      await writeKeySet(store, keys);
    }
  }
  return keys;
}

/** Generates a new signing key and makes it current; the old ones verify until they retire. */
export async function rotateSigningKey(store: Store, accessTokenLifetime: number): Promise<StoredKey[]> {
  const keys = promote(await readKeySet(store), await generateSigningKey(), accessTokenLifetime);
  await writeKeySet(store, keys);
  return keys;
}

/** Public half of a stored key, as published at /jwks. */
export function publicJwk(key: StoredKey): JWK {
  const { kty, n, e } = key.jwk;
  return { kty, n, e, kid: key.kid, alg: 'RS256', use: 'sig' };
}

/** COOKIE_SECRETS, or secrets generated once and kept in storage. */
export async function loadCookieSecrets(store: Store, configured?: string[]): Promise<string[]> {
  if (configured?.length) return configured;
  const fresh = [randomBytes(32).toString('base64url')];
  await store.set(COOKIE_SECRETS_KEY, fresh, { onlyIfAbsent: true });
  const stored = await store.get<string[]>(COOKIE_SECRETS_KEY);
  return stored?.length ? stored : fresh;
}
