/**
 * Revocations announced to every replica. Whoever ends a grant or revokes an access token
 * publishes it on the `revocations` channel; every /verify evicts matching cache entries when
 * the message arrives, and flushes its whole cache when messages may have been lost.
 * Messages: `grant:<grantId>` or `jti:<jti>`.
 */
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';
import type { TokenCache } from './token-cache.ts';

export const REVOCATION_CHANNEL = 'revocations';

export const announceGrantRevoked = (store: Store, grantId: string) =>
  store.publish(REVOCATION_CHANNEL, `grant:${grantId}`);
export const announceTokenRevoked = (store: Store, jti: string) => store.publish(REVOCATION_CHANNEL, `jti:${jti}`);

export async function followRevocations(store: Store, cache: TokenCache, logger: Logger): Promise<() => Promise<void>> {
  return store.subscribe(
    REVOCATION_CHANNEL,
    (message) => {
      const colon = message.indexOf(':');
      const kind = message.slice(0, colon);
      const id = message.slice(colon + 1);
      if (kind === 'grant') cache.evictWhere((c) => c.gid === id);
      else if (kind === 'jti') cache.evictWhere((c) => c.jti === id);
      else logger.warn({ message: message.slice(0, 80) }, 'unknown revocation message');
    },
    () => {
      cache.clear();
      logger.warn('revocation feed interrupted: token cache flushed');
    },
  );
}
