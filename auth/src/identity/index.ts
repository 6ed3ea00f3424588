/**
 * The identity providers this gateway runs with, and the one admission decision used at login,
 * at every token issuance (findAccount) and at every /verify.
 */
import type { Config } from '../config/load.ts';
import { GitHubProvider } from './github.ts';
import { LocalUser } from './local.ts';
import type { IdentityProvider, UpstreamUser } from './provider.ts';

export interface Identities {
  /** Redirect-based upstream providers by id (`github`). */
  readonly upstream: ReadonlyMap<string, IdentityProvider>;
  /** The embedded default's local user, when no provider is configured and only loopback listens. */
  readonly local?: LocalUser;
  /** Is this user admitted right now? */
  isAllowed(user: Pick<UpstreamUser, 'login' | 'provider'>): boolean;
}

export function createIdentities(config: Config, options: { local?: LocalUser } = {}): Identities {
  const upstream = new Map<string, IdentityProvider>();
  if (config.github) upstream.set('github', new GitHubProvider(config.github, config.allowedGithubUsers));
  const local = config.localUser ? (options.local ?? new LocalUser()) : undefined;
  return {
    upstream,
    local,
    isAllowed(user) {
      if (user.provider === 'local') return local !== undefined && user.login === local.login;
      return upstream.get(user.provider)?.isAllowed(user) ?? false;
    },
  };
}
