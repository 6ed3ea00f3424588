/**
 * A user's authorization at an upstream (auth/src/upstream/user-tokens.ts), with this gateway's own
 * authorization server as the upstream (oidc-provider, its local user and consent page), driven by
 * a person over HTTP: the code flow with PKCE and resource, the state used once, RFC 9207's iss,
 * tokens sealed, refresh ahead of expiry (one in flight), a revoked upstream grant ending it.
 */
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { discoverUpstream, type UpstreamAuthorization } from '../../auth/src/upstream/discovery.ts';
import { upstreamClient, type UpstreamClient } from '../../auth/src/upstream/registration.ts';
import { loadUpstreamKey, UpstreamTokenVault } from '../../auth/src/upstream/token-vault.ts';
import { UserUpstreamTokens, type UserTokenOptions } from '../../auth/src/upstream/user-tokens.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { decodeJwt, tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

const PASSWORD = 'upstream password';
const REDIRECT = 'http://127.0.0.1:8000/upstream/callback';
let upstream: RunningAuth;
let as: UpstreamAuthorization;
let client: UpstreamClient;
let store: MemoryStore;
let vault: UpstreamTokenVault;

beforeAll(async () => {
  upstream = await startAuth({ localPassword: PASSWORD, env: { ACCESS_TOKEN_LIFETIME: '600' } });
  as = { ...(await discoverUpstream(`${upstream.url}/echo/mcp`)), clientIdMetadataDocumentSupported: false };
  store = new MemoryStore();
  client = await upstreamClient(as, {
    store,
    sealingKey: await loadUpstreamKey(store),
    publicUrl: 'http://127.0.0.1:8000',
    service: 'echo-up',
    redirectUri: REDIRECT,
  });
  vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
});
afterAll(() => upstream.stop());

const tokens = (extra: Partial<UserTokenOptions> = {}) =>
  new UserUpstreamTokens({
    store,
    vault,
    service: 'echo-up',
    as,
    client,
    redirectUri: REDIRECT,
    scope: 'mcp offline_access',
    ...extra,
  });

/** The user at the upstream's pages: login, consent; the URL the upstream sends back. */
async function authorizeAtUpstream(url: string): Promise<URL> {
  return new Person(upstream.url).authorize(url, { password: PASSWORD });
}

test('the code flow: PKCE S256, resource, state; the token is for the upstream resource, kept sealed', async () => {
  const t = tokens();
  const url = new URL(await t.begin('github:1', '/interaction/abc'));
  expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  expect(url.searchParams.get('resource')).toBe(`${upstream.url}/echo/mcp`);
  const back = await authorizeAtUpstream(url.href);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
  expect(await t.complete(back.searchParams)).toEqual({ userId: 'github:1', resume: '/interaction/abc' });
  const token = await t.token('github:1');
  expect(decodeJwt(token!).payload).toMatchObject({ aud: `${upstream.url}/echo/mcp`, client_id: client.clientId });
  // The upstream says it is active; it is kept only sealed.
  const introspected = await tokenRequest(
    upstream.url,
    { method: 'client_secret_basic', clientId: client.clientId, clientSecret: client.clientSecret! },
    { token: token! },
    '/introspect',
  );
  expect(introspected.body.active).toBe(true);
  expect(
    JSON.stringify([...((store as unknown as { data: Map<string, unknown> }).data?.values?.() ?? [])]),
  ).not.toContain(token!);
  // The state is single use.
  await expect(t.complete(back.searchParams)).rejects.toMatchObject({ reason: 'state' });
});

test('RFC 9207: a response naming another issuer is refused; so is one without iss when the server sends it', async () => {
  const t = tokens({ issuerInResponse: true });
  const back = await authorizeAtUpstream(await t.begin('github:2', '/x'));
  const forged = new URLSearchParams(back.searchParams);
  forged.set('iss', 'https://evil.example');
  await expect(t.complete(forged)).rejects.toMatchObject({ reason: 'issuer' });
  const second = await authorizeAtUpstream(await t.begin('github:2', '/x'));
  const withoutIss = new URLSearchParams(second.searchParams);
  withoutIss.delete('iss');
  await expect(t.complete(withoutIss)).rejects.toMatchObject({ reason: 'issuer' });
  expect(await vault.find('echo-up', 'github:2')).toBeUndefined();
});

test('the user denies at the upstream: denied, nothing kept', async () => {
  const t = tokens();
  // prompt=consent: this user already allowed this client at the upstream, in the tests above.
  const back = await new Person(upstream.url).authorize(`${await t.begin('github:3', '/x')}&prompt=consent`, {
    password: PASSWORD,
    consent: 'deny',
  });
  await expect(t.complete(back.searchParams)).rejects.toMatchObject({ reason: 'denied', oauthError: 'access_denied' });
  expect(await vault.find('echo-up', 'github:3')).toBeUndefined();
});

test('refreshed ahead of expiry, once for many callers; a revoked upstream grant ends it', async () => {
  let now = Date.now();
  const t = tokens({ now: () => now });
  await t.complete((await authorizeAtUpstream(await t.begin('github:4', '/x'))).searchParams);
  const first = await t.token('github:4');
  expect(await t.token('github:4')).toBe(first);
  now += (600 - 30) * 1000; // inside the last 10 % of the 600 s lifetime
  const [a, b, c] = await Promise.all([t.token('github:4'), t.token('github:4'), t.token('github:4')]);
  expect(a).not.toBe(first);
  expect(new Set([a, b, c]).size).toBe(1);
  expect(t.stats.refreshes).toBe(1);
  // The upstream grant revoked (its refresh token revoked): the next refresh ends it.
  const kept = await vault.find('echo-up', 'github:4');
  await tokenRequest(
    upstream.url,
    { method: 'client_secret_basic', clientId: client.clientId, clientSecret: client.clientSecret! },
    { token: kept!.refresh_token!, token_type_hint: 'refresh_token' },
    '/revoke',
  );
  expect(await t.rejected('github:4')).toBeUndefined();
  expect(await vault.find('echo-up', 'github:4')).toBeUndefined();
  expect(await t.token('github:4')).toBeUndefined();
});

test('a token due for refresh with time left still serves: the one refresh runs behind it, no caller waits', async () => {
  let now = Date.now();
  const t = tokens({ now: () => now });
  await t.complete((await authorizeAtUpstream(await t.begin('github:5', '/x'))).searchParams);
  const first = await t.token('github:5');
  now += (600 - 50) * 1000; // due (the last 10 % of 600 s), 50 s of life left
  const refreshes = t.stats.refreshes;
  const served = await Promise.all([t.token('github:5'), t.token('github:5'), t.current('github:5')]);
  expect(served.slice(0, 2)).toEqual([first, first]);
  // Served, but not to be kept: the next caller asks again.
  expect(served[2]).toEqual({ token: first, until: Math.floor(now / 1000) });
  const deadline = Date.now() + 5000;
  while ((await vault.find('echo-up', 'github:5'))?.access_token === first && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(t.stats.refreshes).toBe(refreshes + 1);
  const next = await t.token('github:5');
  expect(next).not.toBe(first);
  expect(decodeJwt(next!).payload.aud).toBe(`${upstream.url}/echo/mcp`);
});
