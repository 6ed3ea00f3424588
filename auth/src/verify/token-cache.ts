/**
 * Verified access tokens, by SHA-256 of the token: the hot path of /verify skips the RSA
 * signature check and the storage read for a token it has already accepted. Bounded in size;
 * an entry never outlives its token's `exp` (nor MAX_AGE, a bound on any missed invalidation);
 * revocation messages evict entries at once (see RevocationFeed).
 */
import { hash } from 'node:crypto';
import type { AccessTokenClaims } from '../oidc/access-tokens.ts';
import { FifoMap } from './fifo-map.ts';

export const DEFAULT_CACHE_SIZE = 10_000;
/** Seconds an entry may live even when its token lives longer. */
export const MAX_AGE = 300;

interface Entry {
  claims: AccessTokenClaims;
  /** Epoch milliseconds after which the entry is not used. */
  until: number;
}

export const tokenHash = (token: string): string => hash('sha256', token, 'base64url');

export class TokenCache {
  private readonly entries: FifoMap<string, Entry>;

  constructor(max = DEFAULT_CACHE_SIZE) {
    this.entries = new FifoMap(max);
  }

  get size(): number {
    return this.entries.size;
  }

  get(hash: string, now = Date.now()): AccessTokenClaims | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    if (now >= entry.until) {
      this.entries.delete(hash);
      return undefined;
    }
    return entry.claims;
  }

  set(hash: string, claims: AccessTokenClaims, now = Date.now()): void {
    const until = Math.min(claims.exp * 1000, now + MAX_AGE * 1000);
    if (until <= now) return;
    // Oldest first out.
    this.entries.set(hash, { claims, until });
  }

  /** Evicts every entry whose claims match; returns how many. Revocations are rare: a scan is fine. */
  evictWhere(match: (claims: AccessTokenClaims) => boolean): number {
    let evicted = 0;
    for (const [hash, entry] of this.entries.entries()) {
      if (match(entry.claims)) {
        this.entries.delete(hash);
        evicted++;
      }
    }
    return evicted;
  }

  clear(): void {
    this.entries.clear();
  }

  /** The claims of every entry (a copy: evicting while reading it is fine). */
  claims(): AccessTokenClaims[] {
    return [...this.entries.entries()].map(([, entry]) => entry.claims);
  }
}
