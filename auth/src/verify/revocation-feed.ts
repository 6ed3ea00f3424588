/**
 * /verify following the revocation feed (storage/revocation-feed.ts): every revocation evicts the
 * matching cache entries and updates the revocation replica. When the feed is lost (storage
 * unreachable), tokens already verified stay accepted, bounded by the cache's MAX_AGE, and the
 * replica vouches for nothing; when it resumes, the cache is checked against storage and the
 * revoked tokens are copied again.
 */
import type { Logger } from '../log.ts';
import type { RevocationFeed } from '../storage/revocation-feed.ts';
import { grantKey, revokedTokenKey } from '../storage/keys.ts';
import type { Store } from '../storage/store.ts';
import type { RevocationReplica } from './revocation-replica.ts';
import type { TokenCache } from './token-cache.ts';

export async function followRevocations(
  feed: RevocationFeed,
  store: Store,
  cache: TokenCache,
  replica: RevocationReplica,
  logger: Logger,
): Promise<() => Promise<void>> {
  const onMessage = (message: string) => {
    const colon = message.indexOf(':');
    const kind = message.slice(0, colon);
    const id = message.slice(colon + 1);
    if (kind === 'grant') {
      replica.grantRevoked(id);
      cache.evictWhere((c) => c.gid === id);
    } else if (kind === 'jti') {
      replica.tokenRevoked(id);
      cache.evictWhere((c) => c.jti === id);
    } else logger.warn({ message: message.slice(0, 80) }, 'unknown revocation message');
  };
  const unfollow = await feed.follow(onMessage, (phase) => {
    if (phase === 'lost') {
      // Tokens already verified stay accepted (at most MAX_AGE, docs/operations.md); others need storage.
      replica.suspend();
      logger.warn('revocation feed interrupted: tokens already verified are still accepted, new ones need storage');
      return;
    }
    void recheckCache(store, cache, logger);
    void replica.gap();
    logger.info('revocation feed resumed: cached tokens checked again, revoked tokens copied again');
  });
  // Following first, then copying: a revocation made during the copy arrives as a message.
  await replica.load();
  return unfollow;
}

/**
 * Messages sent while the feed was down are lost: every cached token whose grant is gone or which
 * was revoked on its own is evicted, from one read of their keys. When that read fails, the
 * whole cache goes.
 */
async function recheckCache(store: Store, cache: TokenCache, logger: Logger): Promise<void> {
  const claims = cache.claims();
  if (claims.length === 0) return;
  try {
    const [grants, revoked] = await Promise.all([
      store.hasMany(claims.map((c) => grantKey(c.gid))),
      store.hasMany(claims.map((c) => revokedTokenKey(c.jti))),
    ]);
    const gone = new Set(claims.filter((_, i) => !grants[i] || revoked[i]).map((c) => c.jti));
    const evicted = gone.size ? cache.evictWhere((c) => gone.has(c.jti)) : 0;
    if (evicted) logger.info({ evicted }, 'revoked during the interruption: evicted from the token cache');
  } catch {
    cache.clear();
    logger.warn('token cache flushed: it could not be checked against storage');
  }
}
