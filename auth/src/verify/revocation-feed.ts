/**
 * Revocations announced to every replica. Whoever ends a grant or revokes an access token
 * publishes it on the `revocations` channel; every /verify evicts matching cache entries and
 * updates its revocation replica when the message arrives, and flushes both when messages may
 * have been lost. Messages: `grant:<grantId>` or `jti:<jti>`.
 *
 * The announcing process applies a revocation to its own followers before publishing it, so
 * that it holds here before the request that made it is answered; its own copy coming back
 * over pub/sub is applied again, which changes nothing.
 */
import type { Logger } from '../log.ts';
import type { Store } from '../storage/store.ts';
import type { RevocationReplica } from './revocation-replica.ts';
import type { TokenCache } from './token-cache.ts';

export const REVOCATION_CHANNEL = 'revocations';

/** This process's followers, by store. */
const local = new WeakMap<Store, Set<(message: string) => void>>();

async function announce(store: Store, message: string): Promise<void> {
  for (const follower of local.get(store) ?? []) follower(message);
  await store.publish(REVOCATION_CHANNEL, message);
}

export const announceGrantRevoked = (store: Store, grantId: string) => announce(store, `grant:${grantId}`);
export const announceTokenRevoked = (store: Store, jti: string) => announce(store, `jti:${jti}`);

export async function followRevocations(
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
  let followers = local.get(store);
  if (!followers) local.set(store, (followers = new Set()));
  followers.add(onMessage);
  const unsubscribe = await store.subscribe(REVOCATION_CHANNEL, onMessage, () => {
    cache.clear();
    void replica.gap();
    logger.warn('revocation feed interrupted: token cache flushed, revoked tokens copied again');
  });
  // Following first, then copying: a revocation made during the copy arrives as a message.
  await replica.load();
  return async () => {
    followers.delete(onMessage);
    await unsubscribe();
  };
}
