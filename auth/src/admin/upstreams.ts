/**
 * What the admin CLI does with the tokens held for users at remote MCP servers (cli.ts `upstreams`):
 * a list that says what is held and until when, never a token; and revocation of a user's
 * authorization at one or every server, here and at the server (RFC 7009, where it has a
 * revocation endpoint), as when the user's grant at the gateway is revoked.
 */
import type { Config } from '../config/load.ts';
import type { GrantEnded } from '../oidc/adapter.ts';
import { createLogger } from '../log.ts';
import { UPSTREAM_TOKEN_KEY_KEY } from '../storage/keys.ts';
import type { Store } from '../storage/store.ts';
import { loadUpstreamKey, UpstreamTokenVault } from '../upstream/token-vault.ts';
import { Upstreams } from '../upstream/upstreams.ts';

export interface HeldUpstreamToken {
  service: string;
  user: string;
  obtained_at?: number;
  expires_at?: number;
  refreshable: boolean;
  scope?: string;
}

/** The sealing key, without making one: undefined when nothing was ever sealed. */
async function existingKey(store: Store, configured: string | undefined): Promise<Buffer | undefined> {
  if (!configured && (await store.get<string>(UPSTREAM_TOKEN_KEY_KEY)) === undefined) return undefined;
  return loadUpstreamKey(store, configured);
}

export async function listUpstreamTokens(store: Store, configured: string | undefined): Promise<HeldUpstreamToken[]> {
  const key = await existingKey(store, configured);
  if (!key) return [];
  const vault = new UpstreamTokenVault(store, key);
  const held: HeldUpstreamToken[] = [];
  for await (const { service, userId } of vault.holders()) {
    const tokens = await vault.find(service, userId);
    if (!tokens) continue; // sealed under another key: unusable, as the gateway sees it
    held.push({
      service,
      user: userId,
      ...(tokens.obtained_at ? { obtained_at: tokens.obtained_at } : {}),
      ...(tokens.expires_at ? { expires_at: tokens.expires_at } : {}),
      refreshable: tokens.refresh_token !== undefined,
      ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
    });
  }
  return held.sort((a, b) => a.service.localeCompare(b.service) || a.user.localeCompare(b.user));
}

/** For `clients revoke`: each grant ended ends its user's authorizations at remote servers. */
export async function upstreamGrantEnded(store: Store, config: Config): Promise<GrantEnded | undefined> {
  const key = await existingKey(store, config.upstreamTokenKey);
  if (!key || !config.services.some((s) => s.remote?.auth?.mode === 'user')) return undefined;
  const upstreams = new Upstreams(config.services, {
    store,
    publicUrl: config.publicUrl,
    sealingKey: key,
    logger: createLogger('warn'),
  });
  const byResource = new Map(config.services.map((s) => [s.resource, s.name]));
  return async (grant) => void (await upstreams.grantEnded(grant, (r) => byResource.get(r)));
}

/** The services at which `user`'s authorization was ended. */
export async function revokeUpstreamTokens(
  store: Store,
  config: Config,
  user: string,
  service?: string,
): Promise<string[]> {
  const key = await existingKey(store, config.upstreamTokenKey);
  if (!key) return [];
  const upstreams = new Upstreams(config.services, {
    store,
    publicUrl: config.publicUrl,
    sealingKey: key,
    logger: createLogger('warn'),
  });
  return upstreams.revokeUser(user, service);
}
