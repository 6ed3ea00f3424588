/**
 * Verification of our own JWT access tokens (RFC 9068), shared by introspection, revocation and
 * /verify. A signature alone does not make a token active: its grant must still exist (revoking
 * a refresh token, replaying a code or reusing a rotated refresh token destroys the grant) and
 * its `jti` must not have been revoked on its own (RFC 7009 for an access token).
 */
import { grantKey, revokedTokenKey } from '../storage/keys.ts';
import type { RevocationFeed } from '../storage/revocation-feed.ts';
import { InvalidTokenError } from '../errors.ts';
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { Store } from '../storage/store.ts';
import { readKeySet, type StoredKey } from './keys.ts';

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  jti: string;
  exp: number;
  iat: number;
  aud: string;
  scope?: string;
  /** Grant id: the token is active while its grant exists. */
  gid: string;
  preferred_username?: string;
  name?: string;
  email?: string;
  /** Identity provider: `github`, `local`. */
  idp?: string;
}

/** An invalid token (RFC 6750 §3.1 invalid_token) and why: `reason` is logged, never sent. */
export class TokenRejected extends InvalidTokenError {
  readonly reason: string;
  constructor(reason: string, description: string) {
    super(description);
    this.reason = reason;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Seconds of clock difference tolerated on exp, nbf and iat. */
const CLOCK_TOLERANCE = 5;
const REQUIRED_STRINGS = ['sub', 'client_id', 'jti', 'aud', 'gid'] as const;

const malformed = () => new TokenRejected('malformed', 'the access token is malformed');

function parseJson(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw malformed();
  return value as Record<string, unknown>;
}

/** Seconds between key-set reloads triggered by unknown `kid`s (a flood of forged kids costs one read). */
const RELOAD_INTERVAL_MS = 10_000;

export class AccessTokenVerifier {
  private readonly issuer: string;
  private readonly store: Store;
  private readonly feed: RevocationFeed;
  private keys = new Map<string, KeyObject>();
  private lastReload = 0;

  constructor(options: { issuer: string; store: Store; feed: RevocationFeed; keys: StoredKey[] }) {
    this.issuer = options.issuer;
    this.store = options.store;
    this.feed = options.feed;
    this.setKeys(options.keys);
  }

  private setKeys(keys: StoredKey[]) {
    this.keys = new Map(keys.map((k) => [k.kid, createPublicKey({ key: { ...k.jwk, d: undefined }, format: 'jwk' })]));
  }

  /** The verification key for `kid`, reloading the stored set (rate-limited) when it is unknown. */
  async key(kid: string | undefined): Promise<KeyObject> {
    if (!kid) throw new TokenRejected('no_kid', 'the access token has no key id');
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.lastReload > RELOAD_INTERVAL_MS) {
      this.lastReload = Date.now();
      this.setKeys(await readKeySet(this.store));
      key = this.keys.get(kid);
    }
    if (!key) throw new TokenRejected('unknown_kid', 'the access token was signed by an unknown key');
    return key;
  }

  /**
   * Signature, algorithm, type, issuer and lifetime; throws TokenRejected. Synchronous when the
   * signing key is known (the hot path of /verify: node:crypto's RSA check, no thread-pool hop),
   * a promise only when an unknown `kid` sends it to storage for the current key set.
   */
  verify(token: string): AccessTokenClaims | Promise<AccessTokenClaims> {
    const parts = token.split('.');
    if (parts.length !== 3 || !BASE64URL.test(parts[0]!)) throw malformed();
    const header = parseJson(parts[0]!);
    // RFC 8725 §3.1 / RFC 9068 §4: only the algorithm we sign with; `none` and HMAC never pass.
    if (header.alg !== 'RS256') throw new TokenRejected('bad_algorithm', 'the access token is not signed with RS256');
    // RFC 9068 §4: the at+jwt type keeps other JWTs (ID tokens…) from passing as access tokens.
    if (header.typ !== 'at+jwt' && header.typ !== 'application/at+jwt') {
      throw new TokenRejected('bad_type', 'the access token is not of type at+jwt');
    }
    // RFC 7515 §4.1.11: no extension we would have to understand.
    if (header.crit !== undefined || !BASE64URL.test(parts[1]!) || !BASE64URL.test(parts[2]!)) throw malformed();
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (key) return this.checked(parts, key);
    return this.key(kid).then((k) => this.checked(parts, k));
  }

  private checked(parts: string[], key: KeyObject): AccessTokenClaims {
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!cryptoVerify('sha256', signed, key, Buffer.from(parts[2]!, 'base64url'))) {
      throw new TokenRejected('bad_signature', 'the access token signature is invalid');
    }
    const claims = parseJson(parts[1]!);
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== this.issuer) {
      throw new TokenRejected('wrong_issuer', 'the access token was issued by another authorization server');
    }
    if (typeof claims.exp !== 'number' || now >= claims.exp + CLOCK_TOLERANCE) {
      throw new TokenRejected('expired', 'the access token expired');
    }
    const notBefore = [claims.nbf, claims.iat].filter((t) => t !== undefined);
    if (typeof claims.iat !== 'number' || notBefore.some((t) => typeof t !== 'number' || t > now + CLOCK_TOLERANCE)) {
      throw new TokenRejected('not_yet_valid', 'the access token is not yet valid');
    }
    for (const name of REQUIRED_STRINGS) {
      if (typeof claims[name] !== 'string' || claims[name] === '') {
        // RFC 9068 §2.2; a token for several audiences is never one of ours (one service each).
        throw new TokenRejected('bad_claims', `the access token's ${name} claim is missing or invalid`);
      }
    }
    return claims as AccessTokenClaims;
  }

  /** Undefined when active; otherwise the TokenRejected saying why not. One storage round trip. */
  async revocation(claims: AccessTokenClaims): Promise<TokenRejected | undefined> {
    const [grant, revoked] = await this.store.hasMany([grantKey(claims.gid), revokedTokenKey(claims.jti)]);
    if (revoked) return new TokenRejected('revoked', 'the access token was revoked');
    if (!grant)
      return new TokenRejected('grant_revoked', 'the authorization behind the access token was revoked or expired');
    return undefined;
  }

  /** RFC 7009 for one access token: remembered until it would have expired anyway. */
  async revoke(claims: AccessTokenClaims): Promise<void> {
    const ttl = claims.exp - Math.floor(Date.now() / 1000) + 5;
    if (ttl > 0) await this.store.set(revokedTokenKey(claims.jti), 1, { ttl });
    await this.feed.tokenRevoked(claims.jti);
  }
}
