/**
 * Accounts: the identity an upstream provider vouched for at the last login, kept as long as
 * a grant may live so tokens can carry it and refreshes can re-check admission.
 * Key: account:<id> (id is provider-prefixed, `github:12345`).
 */
import { accountKey } from '../storage/keys.ts';
import type { UpstreamUser } from '../identity/provider.ts';
import type { Json, Store } from '../storage/store.ts';

export interface Account extends UpstreamUser {
  /** Epoch seconds of the last login. */
  loggedInAt: number;
}

export class Accounts {
  private readonly store: Store;
  /** Seconds an account is kept after a login (the refresh token lifetime). */
  readonly ttl: number;

  constructor(store: Store, ttl: number) {
    this.store = store;
    this.ttl = ttl;
  }

  async save(user: UpstreamUser): Promise<Account> {
    const account: Account = {
      id: user.id,
      login: user.login,
      provider: user.provider,
      ...(user.name ? { name: user.name } : {}),
      ...(user.email ? { email: user.email } : {}),
      ...(user.emailVerified ? { emailVerified: true } : {}),
      ...(user.groups?.length ? { groups: user.groups } : {}),
      loggedInAt: Math.floor(Date.now() / 1000),
    };
    await this.store.set(accountKey(user.id), account as unknown as Json, { ttl: this.ttl });
    return account;
  }

  async find(id: string): Promise<Account | undefined> {
    return (await this.store.get<Json>(accountKey(id))) as unknown as Account | undefined;
  }
}
