/**
 * The tokens the gateway holds for a user at an upstream MCP server (`MCP_<S>_AUTH=user`), kept
 * only in storage and sealed there: AES-256-GCM (NIST SP 800-38D) under a key from
 * UPSTREAM_TOKEN_KEY, or generated once and kept in storage like the cookie secrets. The storage
 * key (service and user) is the additional authenticated data, so a sealed record moved to another
 * user's or service's key does not open. A record that does not open is treated as absent: the
 * user authorizes the upstream again, nothing is served from it.
 * Key: upstream:token:<service>:<userId> (storage/keys.ts), ttl the refresh token's life, if any.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { UPSTREAM_TOKEN_KEY_KEY, upstreamIssuedKey, upstreamTokenKey, UPSTREAM_TOKEN_PREFIX } from '../storage/keys.ts';
import type { Json, Store } from '../storage/store.ts';

/** What the gateway keeps of an upstream grant. Times are epoch seconds. */
export interface UpstreamTokens {
  access_token: string;
  refresh_token?: string;
  /** When the access token expires; absent when the upstream did not say. */
  expires_at?: number;
  /** When it was obtained (the lifetime decides how early it is refreshed). */
  obtained_at?: number;
  scope?: string;
  /** The upstream authorization server's issuer, for refresh and revocation. */
  issuer?: string;
}

/** A value sealed with AES-256-GCM; `where` (its storage key) is the additional data. */
export interface Sealed {
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

const b64 = (b: Buffer): string => b.toString('base64url');

export function seal(key: Buffer, where: string, value: unknown): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(where));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { v: 1, iv: b64(iv), tag: b64(cipher.getAuthTag()), data: b64(data) };
}

/** The value, or undefined when the record is not one sealed with `key` for `where`. */
export function open<T>(key: Buffer, where: string, sealed: Partial<Sealed> | undefined): T | undefined {
  if (!sealed || sealed.v !== 1 || !sealed.iv || !sealed.tag || !sealed.data) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
    decipher.setAAD(Buffer.from(where));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    const text = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]);
    return JSON.parse(text.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * The sealing key: HKDF-SHA256 (RFC 5869) of UPSTREAM_TOKEN_KEY when it is set, else 32 random
 * bytes generated once and kept in storage (the first replica's wins, SET NX).
 */
export async function loadUpstreamKey(store: Store, configured?: string): Promise<Buffer> {
  if (configured) return Buffer.from(hkdfSync('sha256', configured, '', 'mcp-gateway upstream tokens', 32));
  const fresh = b64(randomBytes(32));
  await store.set(UPSTREAM_TOKEN_KEY_KEY, fresh, { onlyIfAbsent: true });
  const stored = await store.get<string>(UPSTREAM_TOKEN_KEY_KEY);
  return Buffer.from(stored ?? fresh, 'base64url');
}

export class UpstreamTokenVault {
  private readonly store: Store;
  private readonly key: Buffer;

  constructor(store: Store, key: Buffer) {
    if (key.length !== 32) throw new Error('the upstream token key must be 32 bytes');
    this.store = store;
    this.key = key;
  }

  async save(service: string, userId: string, tokens: UpstreamTokens, ttl?: number): Promise<void> {
    const where = upstreamTokenKey(service, userId);
    await this.store.set(where, seal(this.key, where, tokens) as unknown as Json, ttl ? { ttl } : {});
    // Whose this access token is, for as long as it lives (a day when the upstream does not say).
    const lives = tokens.expires_at ? Math.max(1, tokens.expires_at - Math.floor(Date.now() / 1000)) : 86_400;
    await this.store.set(upstreamIssuedKey(this.mac(tokens.access_token)), { service, userId }, { ttl: lives });
  }

  /** The (service, user) an upstream access token was issued to, when the gateway holds it. */
  async whose(accessToken: string): Promise<{ service: string; userId: string } | undefined> {
    const found = (await this.store.get<Json>(upstreamIssuedKey(this.mac(accessToken)))) as
      { service?: unknown; userId?: unknown } | undefined;
    return typeof found?.service === 'string' && typeof found.userId === 'string'
      ? { service: found.service, userId: found.userId }
      : undefined;
  }

  private mac(token: string): string {
    return createHmac('sha256', this.key).update(token).digest('base64url');
  }

  /** The user's tokens at this service, or undefined (none, or a record that does not open). */
  async find(service: string, userId: string): Promise<UpstreamTokens | undefined> {
    const where = upstreamTokenKey(service, userId);
    return open<UpstreamTokens>(this.key, where, (await this.store.get<Json>(where)) as Partial<Sealed> | undefined);
  }

  async delete(service: string, userId: string): Promise<boolean> {
    return (await this.store.delete(upstreamTokenKey(service, userId))) > 0;
  }

  /** The users holding tokens at a service (or at every service): `{ service, userId }`. */
  async *holders(service?: string): AsyncIterable<{ service: string; userId: string }> {
    const prefix = service === undefined ? UPSTREAM_TOKEN_PREFIX : `${UPSTREAM_TOKEN_PREFIX}${service}:`;
    for await (const key of this.store.keys(prefix)) {
      const rest = key.slice(UPSTREAM_TOKEN_PREFIX.length);
      const colon = rest.indexOf(':');
      // Service names have no ':' (contracts/service-name.ts); user ids may.
      if (colon > 0) yield { service: rest.slice(0, colon), userId: rest.slice(colon + 1) };
    }
  }
}
