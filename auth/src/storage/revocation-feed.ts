/**
 * Revocations announced to every replica. Whoever ends a grant or revokes an access token
 * announces it here; it goes to this process's followers first, then out on the store's
 * `revocations` channel to every other replica. Messages: `grant:<grantId>` or `jti:<jti>`.
 *
 * One feed per process, made where the service is composed (app.ts) and handed to those who
 * announce (the oidc-provider adapter, the access-token verifier) and those who follow (verify/):
 * neither side imports the other. The announcing process applies a revocation to its own followers
 * before publishing it, so that it holds here before the request that made it is answered; its own
 * copy coming back over pub/sub is applied again, which changes nothing.
 */
import type { GapPhase, Store } from './store.ts';

export const REVOCATION_CHANNEL = 'revocations';

export class RevocationFeed {
  private readonly store: Store;
  private readonly followers = new Set<(message: string) => void>();

  constructor(store: Store) {
    this.store = store;
  }

  grantRevoked(grantId: string): Promise<void> {
    return this.announce(`grant:${grantId}`);
  }

  tokenRevoked(jti: string): Promise<void> {
    return this.announce(`jti:${jti}`);
  }

  private async announce(message: string): Promise<void> {
    for (const follower of this.followers) follower(message);
    await this.store.publish(REVOCATION_CHANNEL, message);
  }

  /**
   * Calls `onMessage` for every revocation, this process's at once and the others' as they arrive;
   * `onGap` when messages may have been lost (a reconnection). Resolves once subscribed.
   */
  async follow(onMessage: (message: string) => void, onGap: (phase: GapPhase) => void): Promise<() => Promise<void>> {
    this.followers.add(onMessage);
    const unsubscribe = await this.store.subscribe(REVOCATION_CHANNEL, onMessage, onGap);
    return async () => {
      this.followers.delete(onMessage);
      await unsubscribe();
    };
  }
}
