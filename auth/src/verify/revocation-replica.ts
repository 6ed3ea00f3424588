/**
 * What this replica knows of revocations without asking storage, so that a token it has not
 * seen before (a refresh's new access token, another replica's user) is usually checked with no
 * storage round trip:
 *
 * - **live grants**: grants that storage said exist, remembered (bounded, oldest out) never
 *   longer than MAX_AGE nor the token that asked; a `grant:<gid>` revocation deletes one.
 * - **revoked access tokens**: every `revoked:at:<jti>` key, loaded from storage once the feed is
 *   followed, then kept by `jti:<jti>` messages. Only a complete copy answers "not revoked".
 *
 * Anything it cannot vouch for goes to storage, as before. A gap in the feed (messages may be
 * lost) forgets the live grants and reloads the revoked tokens; until that reload is done,
 * storage is asked. Every revocation and gap moves `epoch`: an answer from storage read before
 * that moment is not remembered (neither here nor in the token cache), so a read that raced a
 * revocation cannot bring a revoked grant back.
 *
 * Within this process a revocation takes effect before the call that made it returns
 * (revocation-feed.ts delivers locally first); on other replicas, when the message arrives —
 * the same bound the token cache has always had.
 */
import type { Logger } from '../log.ts';
import { isStorageOutage } from '../storage/outage.ts';
import type { AccessTokenClaims } from '../oidc/access-tokens.ts';
import { REVOKED_TOKEN_PREFIX } from '../storage/keys.ts';
import type { Store } from '../storage/store.ts';
import { FifoMap } from './fifo-map.ts';
import { MAX_AGE } from './token-cache.ts';

export const DEFAULT_MAX_GRANTS = 50_000;
/** Above this many revoked tokens the copy is given up (storage is asked): memory stays bounded. */
export const MAX_REVOKED_TOKENS = 100_000;

/** What the replica can say of a token without storage. */
export type LocalVerdict = 'active' | 'revoked' | 'unknown';

export class RevocationReplica {
  private readonly store: Store;
  private readonly logger: Logger;
  /** Longest life of an access token (s): how long a heard `jti:` revocation must be kept. */
  private readonly tokenLifetime: number;
  /** gid → epoch ms until which it may be trusted to exist; oldest out. */
  private readonly liveGrants: FifoMap<string, number>;
  /** jti → epoch ms after which no token with it can still be valid. */
  private readonly revokedTokens = new Map<string, number>();
  /** True while revokedTokens is a complete copy of storage's. */
  private complete = false;
  /** The latest copy started; an older one finishing late does not count. */
  private attempt: symbol | undefined;
  private _epoch = 0;
  private localHits = 0;
  private storageReads = 0;

  constructor(options: { store: Store; logger: Logger; tokenLifetime: number; maxGrants?: number }) {
    this.store = options.store;
    this.logger = options.logger;
    this.tokenLifetime = options.tokenLifetime;
    this.liveGrants = new FifoMap(options.maxGrants ?? DEFAULT_MAX_GRANTS);
  }

  get epoch(): number {
    return this._epoch;
  }

  get stats(): { localHits: number; storageReads: number; liveGrants: number; revokedTokens: number } {
    return {
      localHits: this.localHits,
      storageReads: this.storageReads,
      liveGrants: this.liveGrants.size,
      revokedTokens: this.revokedTokens.size,
    };
  }

  /** True once the revoked tokens are a complete copy (after start, and again after each gap). */
  get ready(): boolean {
    return this.complete;
  }

  check(claims: AccessTokenClaims, now = Date.now()): LocalVerdict {
    const revokedUntil = this.revokedTokens.get(claims.jti);
    if (revokedUntil !== undefined && revokedUntil > now) return 'revoked';
    const grantUntil = this.liveGrants.get(claims.gid);
    if (grantUntil !== undefined && grantUntil <= now) this.liveGrants.delete(claims.gid);
    if (this.complete && grantUntil !== undefined && grantUntil > now) {
      this.localHits++;
      return 'active';
    }
    this.storageReads++;
    return 'unknown';
  }

  /** Storage said the token's grant exists, in a read that began at `epoch`. */
  grantExists(claims: AccessTokenClaims, epoch: number, now = Date.now()): void {
    if (epoch !== this._epoch) return;
    const until = Math.min(claims.exp * 1000, now + MAX_AGE * 1000);
    if (until <= now) return;
    this.liveGrants.set(claims.gid, until);
  }

  grantRevoked(gid: string): void {
    this._epoch++;
    this.liveGrants.delete(gid);
  }

  tokenRevoked(jti: string, now = Date.now()): void {
    this._epoch++;
    this.remember(jti, now);
  }

  /**
   * The feed is down (storage unreachable): until it resumes, nothing the replica remembers of
   * live grants vouches for a token (storage is asked, and answers 503 while it is down).
   */
  suspend(): void {
    this._epoch++;
    this.liveGrants.clear();
    this.complete = false;
  }

  /** Messages may have been lost: trust nothing remembered, and copy the revoked tokens again. */
  gap(): Promise<void> {
    this._epoch++;
    this.liveGrants.clear();
    this.complete = false;
    return this.load();
  }

  /**
   * Copies every revoked token from storage. Call once the feed is followed, so that nothing
   * revoked during the copy is missed (it arrives as a message). Failures leave the copy
   * incomplete (storage is asked) and are retried at the next gap or load.
   */
  load(): Promise<void> {
    const attempt = Symbol('copy');
    this.attempt = attempt;
    return this.copy(attempt);
  }

  private async copy(attempt: symbol): Promise<void> {
    try {
      const now = Date.now();
      let count = 0;
      for await (const key of this.store.keys(REVOKED_TOKEN_PREFIX)) {
        if (++count > MAX_REVOKED_TOKENS || !this.remember(key.slice(REVOKED_TOKEN_PREFIX.length), now)) {
          this.logger.warn({ count }, 'revocation replica: too many revoked tokens to copy; storage is asked instead');
          return;
        }
      }
      // A gap during the copy starts another one; only the latest may declare the copy complete.
      if (this.attempt === attempt) this.complete = true;
    } catch (err) {
      if (!isStorageOutage(err)) {
        this.logger.warn({ err }, 'revocation replica: could not copy the revoked tokens; storage is asked instead');
        return;
      }
      // Storage is (still) coming back: try again shortly, unless a newer copy began meanwhile.
      this.logger.debug('revocation replica: storage unreachable; copying again in a second');
      setTimeout(() => {
        if (this.attempt === attempt) void this.copy(attempt);
      }, 1000).unref();
    }
  }

  /** False when the copy had to be given up. */
  private remember(jti: string, now: number): boolean {
    if (this.revokedTokens.size >= MAX_REVOKED_TOKENS) {
      for (const [id, until] of this.revokedTokens) if (until <= now) this.revokedTokens.delete(id);
      if (this.revokedTokens.size >= MAX_REVOKED_TOKENS) {
        // Keeping up would cost unbounded memory: from here on, storage answers.
        this.complete = false;
        return false;
      }
    }
    // A token revoked now is valid at most tokenLifetime more seconds (plus clock tolerance).
    this.revokedTokens.set(jti, now + (this.tokenLifetime + 60) * 1000);
    return true;
  }
}
