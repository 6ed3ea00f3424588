/**
 * The gateway registering itself at an upstream's authorization server (auth/src/upstream/
 * registration.ts), with this gateway's own oidc-provider as the upstream: a real RFC 7591
 * registration, kept sealed and reused, renewed before its secret expires; a Client ID Metadata
 * Document when the server takes them; clear refusals.
 */
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { upstreamClientKey } from '../../auth/src/storage/keys.ts';
import { discoverUpstream, type UpstreamAuthorization } from '../../auth/src/upstream/discovery.ts';
import { loadUpstreamKey } from '../../auth/src/upstream/token-vault.ts';
import {
  clientMetadataDocument,
  upstreamClient,
  type RegistrationOptions,
} from '../../auth/src/upstream/registration.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';

let upstream: RunningAuth;
let discovered: UpstreamAuthorization;
let store: MemoryStore;
let options: RegistrationOptions;
const PUBLIC_URL = 'http://127.0.0.1:8000';

beforeAll(async () => {
  upstream = await startAuth({ localPassword: 'pw', env: { CLIENT_LIFETIME: '86400' } });
  discovered = await discoverUpstream(`${upstream.url}/echo/mcp`);
});
afterAll(() => upstream.stop());
beforeEach(async () => {
  store = new MemoryStore();
  options = {
    store,
    sealingKey: await loadUpstreamKey(store),
    publicUrl: PUBLIC_URL,
    service: 'echo-up',
    redirectUri: `${PUBLIC_URL}/upstream/callback`,
  };
});

/** Clients registered at the upstream so far. */
async function registered(): Promise<number> {
  let n = 0;
  for await (const key of upstream.store.keys('oidc:Client:')) if (!key.endsWith(':consumed')) n++;
  return n;
}

describe('dynamic registration (the server takes no metadata documents)', () => {
  const dcrOnly = () => ({ ...discovered, clientIdMetadataDocumentSupported: false });

  test('registers a confidential client once, keeps it sealed, and reuses it', async () => {
    const client = await upstreamClient(dcrOnly(), options);
    expect(client).toMatchObject({
      clientId: expect.any(String),
      clientSecret: expect.any(String),
      tokenEndpointAuthMethod: 'client_secret_basic',
      via: 'registration',
    });
    // The upstream knows it, with our redirect URI.
    const stored = (await upstream.store.get(`oidc:Client:${client.clientId}`)) as Record<string, unknown> | undefined;
    expect(stored).toMatchObject({ redirect_uris: [`${PUBLIC_URL}/upstream/callback`] });
    // Sealed here: neither id nor secret readable in storage.
    const kept = JSON.stringify(await store.get(upstreamClientKey('echo-up', discovered.issuer)));
    expect(kept).not.toContain(client.clientSecret!);
    expect(kept).not.toContain(client.clientId);
    const count = await registered();
    const again = await upstreamClient(dcrOnly(), options);
    expect(again).toEqual(client);
    expect(await registered()).toBe(count);
  });

  test('a secret about to expire: registered again', async () => {
    const first = await upstreamClient(dcrOnly(), options);
    expect(first.clientSecretExpiresAt).toBeGreaterThan(Date.now() / 1000);
    const later = await upstreamClient(dcrOnly(), {
      ...options,
      now: () => (first.clientSecretExpiresAt! - 30) * 1000,
    });
    expect(later.clientId).not.toBe(first.clientId);
  });

  test('a redirect URI the server refuses: refused, naming the server, nothing kept', async () => {
    const bad = { ...options, redirectUri: 'http://gateway.example/upstream/callback' };
    await expect(upstreamClient(dcrOnly(), bad)).rejects.toMatchObject({
      reason: 'refused',
      message: expect.stringContaining(discovered.issuer),
    });
    expect(await store.get(upstreamClientKey('echo-up', discovered.issuer))).toBeUndefined();
  });

  test('neither metadata documents nor registration: a clear problem naming the settings', async () => {
    const none = { ...dcrOnly(), registrationEndpoint: undefined };
    await expect(upstreamClient(none, options)).rejects.toMatchObject({
      reason: 'no_registration',
      message: expect.stringContaining('MCP_ECHO_UP_CLIENT_ID'),
    });
  });
});

test('a server taking Client ID Metadata Documents: the document URL is the client id, nothing registered', async () => {
  expect(discovered.clientIdMetadataDocumentSupported).toBe(true);
  const before = await registered();
  const client = await upstreamClient(discovered, options);
  expect(client).toEqual({
    clientId: `${PUBLIC_URL}/.well-known/oauth-client/echo-up`,
    tokenEndpointAuthMethod: 'none',
    via: 'metadata_document',
  });
  expect(await registered()).toBe(before);
  expect(clientMetadataDocument(PUBLIC_URL, 'echo-up', options.redirectUri)).toMatchObject({
    client_id: client.clientId,
    redirect_uris: [`${PUBLIC_URL}/upstream/callback`],
    token_endpoint_auth_method: 'none',
  });
});
