/**
 * Verification of our own JWT access tokens (RFC 9068), shared by introspection, revocation and
 * /verify. A signature alone does not make a token active: its grant must still exist (revoking
 * a refresh token, replaying a code or reusing a rotated refresh token destroys the grant) and
 * its `jti` must not have been revoked on its own (RFC 7009 for an access token).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Store } from '../storage/store.ts';
import { grantKey } from './adapter.ts';
import { readKeySet, type StoredKey } from './keys.ts';
import { announceTokenRevoked } from '../verify/revocation-feed.ts';

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

/** Why a token was refused; logged, and `description` is sent as error_description. */
export class TokenRejected extends Error {
  readonly reason: string;
  constructor(reason: string, description: string) {
    super(description);
    this.name = 'TokenRejected';
    this.reason = reason;
  }
}

export const revokedTokenKey = (jti: string): string => `revoked:at:${jti}`;

/** Seconds between key-set reloads triggered by unknown `kid`s (a flood of forged kids costs one read). */
const RELOAD_INTERVAL_MS = 10_000;

export class AccessTokenVerifier {
  private readonly issuer: string;
  private readonly store: Store;
  private keys = new Map<string, KeyObject>();
  private lastReload = 0;

  constructor(options: { issuer: string; store: Store; keys: StoredKey[] }) {
    this.issuer = options.issuer;
    this.store = options.store;
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

  /** Signature, algorithm, type, issuer and lifetime. Throws TokenRejected. */
  async verify(token: string): Promise<AccessTokenClaims> {
    try {
      const { payload } = await jwtVerify(token, (header) => this.key(header.kid), {
        issuer: this.issuer,
        // RFC 9068 §4: only the algorithm we sign with, and the at+jwt type.
        algorithms: ['RS256'],
        typ: 'at+jwt',
        requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'aud', 'gid'],
        clockTolerance: 5,
      });
      if (typeof payload.aud !== 'string')
        throw new TokenRejected('bad_audience', 'the access token has more than one audience');
      return payload as AccessTokenClaims;
    } catch (err) {
      if (err instanceof TokenRejected) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new TokenRejected('expired', 'the access token expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        if (err.claim === 'nbf' || err.claim === 'iat')
          throw new TokenRejected('not_yet_valid', 'the access token is not yet valid');
        if (err.claim === 'iss')
          throw new TokenRejected('wrong_issuer', 'the access token was issued by another authorization server');
        throw new TokenRejected('bad_claims', `the access token's ${err.claim} claim is invalid`);
      }
      if (err instanceof joseErrors.JOSEAlgNotAllowed)
        throw new TokenRejected('bad_algorithm', 'the access token is not signed with RS256');
      if (err instanceof joseErrors.JWSSignatureVerificationFailed)
        throw new TokenRejected('bad_signature', 'the access token signature is invalid');
      throw new TokenRejected('malformed', 'the access token is malformed');
    }
  }

  /** Undefined when active; otherwise the TokenRejected saying why not. One storage round trip. */
  async revocation(claims: AccessTokenClaims): Promise<TokenRejected | undefined> {
    const [grant, revoked] = await this.store.getMany([grantKey(claims.gid), revokedTokenKey(claims.jti)]);
    if (revoked !== undefined) return new TokenRejected('revoked', 'the access token was revoked');
    if (grant === undefined)
      return new TokenRejected('grant_revoked', 'the authorization behind the access token was revoked or expired');
    return undefined;
  }

  /** RFC 7009 for one access token: remembered until it would have expired anyway. */
  async revoke(claims: AccessTokenClaims): Promise<void> {
    const ttl = claims.exp - Math.floor(Date.now() / 1000) + 5;
    if (ttl > 0) await this.store.set(revokedTokenKey(claims.jti), 1, { ttl });
    await announceTokenRevoked(this.store, claims.jti);
  }
}
