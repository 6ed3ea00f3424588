/**
 * The identity providers this gateway runs with, and the one admission decision (admission.ts)
 * used at login, at every token issuance (findAccount) and at every /verify.
 */
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Accounts } from '../oidc/accounts.ts';
import type { Store } from '../storage/store.ts';
import { Admission } from './admission.ts';
import { GitHubProvider } from './github.ts';
import { LocalUser } from './local.ts';
import { OidcProvider } from './oidc.ts';
import type { IdentityProvider } from './provider.ts';
import { githubOrgsOfRules, needsGithubMemberships } from './rules.ts';

export interface Identities {
  /** Redirect-based upstream providers by id (`github`, `oidc`), in the login page's order. */
  readonly upstream: ReadonlyMap<string, IdentityProvider>;
  /** The embedded default's local user, when no provider is configured and only loopback listens. */
  readonly local?: LocalUser;
  /** Who may use the gateway and each service, now. */
  readonly admission: Admission;
  /** Discovery of the OpenID Connect provider (never throws; retries on its own). */
  start(): Promise<void>;
  stop(): void;
}

export interface IdentityDeps {
  accounts: Accounts;
  store: Store;
  logger: Logger;
  /** Seals the GitHub tokens kept to read memberships (UPSTREAM_TOKEN_KEY or the generated key). */
  sealingKey: Buffer;
  local?: LocalUser;
  /** Tests: the OIDC provider's timings. */
  oidc?: { retryMs?: number; jwksCooldownMs?: number };
}

export function createIdentities(config: Config, deps: IdentityDeps): Identities {
  const upstream = new Map<string, IdentityProvider>();
  const memberships = config.github && needsGithubMemberships(config.rules, config.serviceRules.values());
  const local = config.localUser ? (deps.local ?? new LocalUser()) : undefined;
  // GitHub reads memberships at login and hands them to admission, which reads them again later
  // through it (each refers to the other only when called).
  const admission: Admission = new Admission({
    rules: config.rules,
    serviceRules: config.serviceRules,
    ttl: config.membershipTtl,
    accounts: deps.accounts,
    store: deps.store,
    logger: deps.logger,
    ...(local ? { localLogin: local.login } : {}),
    ...(memberships
      ? {
          github: {
            source: { memberships: (token, login) => github!.memberships(token, login) },
            sealingKey: deps.sealingKey,
          },
        }
      : {}),
  });
  const github = config.github
    ? new GitHubProvider(config.github, {
        ...(memberships
          ? {
              memberships: {
                orgs: githubOrgsOfRules(config.rules, config.serviceRules.values()),
                keep: (id, token, groups) => admission.keepGithubToken(id, token, groups),
              },
            }
          : {}),
      })
    : undefined;
  if (github) upstream.set(github.id, github);
  const oidc = config.oidc ? new OidcProvider(config.oidc, { logger: deps.logger, ...deps.oidc }) : undefined;
  if (oidc) upstream.set(oidc.id, oidc);
  return {
    upstream,
    local,
    admission,
    start: async () => oidc?.start(),
    stop: () => oidc?.stop(),
  };
}
