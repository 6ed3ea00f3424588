/**
 * /verify following the revocation feed (storage/revocation-feed.ts): every revocation evicts the
 * matching cache entries and updates the revocation replica; a gap in the feed flushes the cache
 * and copies the revoked tokens again.
 */
import type { Logger } from '../log.ts';
import type { RevocationFeed } from '../storage/revocation-feed.ts';
import type { RevocationReplica } from './revocation-replica.ts';
import type { TokenCache } from './token-cache.ts';

export async function followRevocations(
  feed: RevocationFeed,
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
  const unfollow = await feed.follow(onMessage, () => {
    cache.clear();
    void replica.gap();
    logger.warn('revocation feed interrupted: token cache flushed, revoked tokens copied again');
  });
  // Following first, then copying: a revocation made during the copy arrives as a message.
  await replica.load();
  return unfollow;
}
