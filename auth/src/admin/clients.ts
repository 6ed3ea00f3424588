/**
 * Client administration on the service's storage (the CLI's `clients` commands): what is
 * registered, what each client was granted, and revoking a client with everything it holds.
 * Pure data: every function takes a Store and returns plain JSON-ready objects; printing is the
 * CLI's business. Key layout: docs/storage.md.
 */
import { revokeClientGrants, type GrantEnded } from '../oidc/adapter.ts';
import { accountKey, clientGrantsKey, CONSENT_PREFIX, grantKey, modelKey } from '../storage/keys.ts';
import { RevocationFeed } from '../storage/revocation-feed.ts';
import type { Json, Store } from '../storage/store.ts';

/** One registered client, as `clients list` shows it. Times are epoch seconds. */
export interface ClientSummary {
  client_id: string;
  client_name: string | null;
  redirect_hosts: string[];
  token_endpoint_auth_method: string | null;
  application_type: string | null;
  issued_at: number | null;
  /** When storage forgets the client (CLIENT_LIFETIME); null: never. */
  expires_at: number | null;
  /** Grants that still exist. */
  grants: number;
}

export interface GrantSummary {
  grant_id: string;
  account_id: string;
  /** The user's login at the last sign-in, when the account record still exists. */
  login: string | null;
  /** Resource (service) → scopes granted for it. */
  resources: Record<string, string[]>;
  /** OIDC scopes granted (openid, profile, email, offline_access…). */
  scopes: string[];
  expires_at: number | null;
}

export interface ClientDetails {
  /** The registered metadata, without `client_secret`. */
  metadata: Record<string, Json>;
  expires_at: number | null;
  grants: GrantSummary[];
}

export interface Revoked {
  grants: number;
  consents: number;
  registration_access_tokens: number;
}

type Payload = Record<string, Json | undefined>;

const CLIENT_PREFIX = modelKey('Client', '');
const REGISTRATION_TOKEN_PREFIX = modelKey('RegistrationAccessToken', '');

const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null);
const words = (v: Json | undefined): string[] => (typeof v === 'string' && v ? v.split(' ') : []);

async function collect(keys: AsyncIterable<string>, keep: (key: string) => boolean = () => true): Promise<string[]> {
  const found: string[] = [];
  for await (const key of keys) if (keep(key)) found.push(key);
  return found;
}

async function expiresAt(store: Store, key: string): Promise<number | null> {
  const ttl = await store.ttl(key);
  return ttl ? Math.floor(Date.now() / 1000) + ttl : null;
}

function redirectHosts(uris: Json | undefined): string[] {
  const hosts = new Set<string>();
  for (const uri of Array.isArray(uris) ? uris : []) {
    try {
      hosts.add(new URL(String(uri)).host || String(uri));
    } catch {
      hosts.add(String(uri));
    }
  }
  return [...hosts];
}

/** The client's grants that still exist (the index may name some that expired). */
async function liveGrants(store: Store, clientId: string): Promise<{ id: string; grant: Payload }[]> {
  const ids = await store.setMembers(clientGrantsKey(clientId));
  const grants = await store.getMany<Payload>(ids.map(grantKey));
  return ids.flatMap((id, i) => (grants[i] ? [{ id, grant: grants[i] }] : []));
}

async function findClient(store: Store, clientId: string): Promise<Payload | undefined> {
  return store.get<Payload>(modelKey('Client', clientId));
}

/** Every registered client, newest first. */
export async function listClients(store: Store): Promise<ClientSummary[]> {
  const keys = await collect(store.keys(CLIENT_PREFIX), (k) => !k.endsWith(':consumed'));
  const clients = await store.getMany<Payload>(keys);
  const summaries = await Promise.all(
    clients.map(async (client, i): Promise<ClientSummary | undefined> => {
      if (!client) return undefined; // expired between SCAN and GET
      const id = str(client.client_id) ?? keys[i]!.slice(CLIENT_PREFIX.length);
      return {
        client_id: id,
        client_name: str(client.client_name),
        redirect_hosts: redirectHosts(client.redirect_uris),
        token_endpoint_auth_method: str(client.token_endpoint_auth_method),
        application_type: str(client.application_type),
        issued_at: typeof client.client_id_issued_at === 'number' ? client.client_id_issued_at : null,
        expires_at: await expiresAt(store, keys[i]!),
        grants: (await liveGrants(store, id)).length,
      };
    }),
  );
  return summaries
    .filter((s): s is ClientSummary => s !== undefined)
    .sort((a, b) => (b.issued_at ?? 0) - (a.issued_at ?? 0) || a.client_id.localeCompare(b.client_id));
}

/** The client's metadata and live grants; undefined when no such client is registered. */
export async function showClient(store: Store, clientId: string): Promise<ClientDetails | undefined> {
  const client = await findClient(store, clientId);
  if (!client) return undefined;
  const { client_secret: _secret, ...metadata } = client;
  const live = await liveGrants(store, clientId);
  const accounts = await store.getMany<Payload>(live.map(({ grant }) => accountKey(String(grant.accountId))));
  const grants = live.map(({ id, grant }, i): GrantSummary => {
    const resources = (grant.resources ?? {}) as Record<string, Json>;
    return {
      grant_id: id,
      account_id: String(grant.accountId),
      login: str(accounts[i]?.login),
      resources: Object.fromEntries(Object.entries(resources).map(([r, s]) => [r, words(s)])),
      scopes: words((grant.openid as Payload | undefined)?.scope),
      expires_at: typeof grant.exp === 'number' ? grant.exp : null,
    };
  });
  return {
    metadata: metadata as Record<string, Json>,
    expires_at: await expiresAt(store, modelKey('Client', clientId)),
    grants,
  };
}

/**
 * Removes the client and everything it holds: the client and its registration access tokens
 * first (no new grant can start), then every grant with its codes and tokens (announced on the
 * revocation channel, so every /verify drops cached tokens at once), then remembered consents.
 * Undefined when no such client is registered.
 */
export async function revokeClient(
  store: Store,
  clientId: string,
  /** Told of each grant ended: its user's authorizations at remote MCP servers end with it. */
  grantEnded?: GrantEnded,
): Promise<Revoked | undefined> {
  // A Client ID Metadata Document client (an https URL) is never stored, but its grants are.
  const grants = (await liveGrants(store, clientId)).length;
  if (!(await findClient(store, clientId)) && grants === 0) return undefined;
  const tokenKeys = await collect(store.keys(REGISTRATION_TOKEN_PREFIX), (k) => !k.endsWith(':consumed'));
  const tokens = await store.getMany<Payload>(tokenKeys);
  const ownTokens = tokenKeys.filter((_, i) => tokens[i]?.clientId === clientId);
  await store.delete(modelKey('Client', clientId), ...ownTokens);
  // This process follows nothing: the feed only publishes, and every running /verify hears it.
  await revokeClientGrants(store, new RevocationFeed(store), clientId, grantEnded);
  // consent:<accountId>:<clientId>; account ids contain `:` themselves, so match the suffix.
  const consents = await collect(store.keys(CONSENT_PREFIX), (k) => k.endsWith(`:${clientId}`));
  await store.delete(...consents);
  return { grants, consents: consents.length, registration_access_tokens: ownTokens.length };
}
