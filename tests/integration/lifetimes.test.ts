/** Lifetimes from the settings reach the wire and the store; refresh tokens introspect and revoke. */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { DEFAULT_METADATA, runFlow } from '../support/flow.ts';
import { decodeJwt, registerOk, tokenRequest } from '../support/oauth.ts';

let github: GitHubStandin;
let gw: RunningAuth;
beforeAll(async () => {
  github = await startGitHubStandin();
  gw = await startAuth({
    github,
    env: { CLIENT_LIFETIME: '600', ACCESS_TOKEN_LIFETIME: '120', REFRESH_TOKEN_LIFETIME: '900' },
  });
});
afterAll(async () => {
  await gw.stop();
  await github.stop();
});

test('CLIENT_LIFETIME: the registration and its secret expire together', async () => {
  const now = Math.floor(Date.now() / 1000);
  const client = await registerOk(gw.url, { ...DEFAULT_METADATA, token_endpoint_auth_method: 'client_secret_basic' });
  expect(client.client_secret_expires_at).toBeGreaterThanOrEqual(now + 599);
  expect(client.client_secret_expires_at).toBeLessThanOrEqual(now + 601);
  const ttl = await gw.store.ttl(`oidc:Client:${client.client_id}`);
  expect(ttl).toBeGreaterThan(590);
  expect(ttl).toBeLessThanOrEqual(600);
});

test('CLIENT_LIFETIME=0: clients never expire', async () => {
  const forever = await startAuth({ github, env: { CLIENT_LIFETIME: '0' } });
  try {
    const client = await registerOk(forever.url, {
      ...DEFAULT_METADATA,
      token_endpoint_auth_method: 'client_secret_post',
    });
    expect(client.client_secret_expires_at).toBe(0);
    expect(await forever.store.ttl(`oidc:Client:${client.client_id}`)).toBe(0);
  } finally {
    await forever.stop();
  }
});

test('ACCESS_TOKEN_LIFETIME and REFRESH_TOKEN_LIFETIME', async () => {
  const r = await runFlow({ base: gw.url, github });
  expect(r.token?.body.expires_in).toBe(120);
  const { payload } = decodeJwt(r.token!.body.access_token!);
  expect(Number(payload.exp) - Number(payload.iat)).toBe(120);
  const rt = await tokenRequest(
    gw.url,
    r.auth,
    { token: r.token!.body.refresh_token!, token_type_hint: 'refresh_token' },
    '/introspect',
  );
  expect(rt.body.active).toBe(true);
  expect(Number(rt.body.exp) - Math.floor(Date.now() / 1000)).toBeGreaterThan(880);
  expect(Number(rt.body.exp) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(900);
});

test('a refresh token introspects active until revoked; another public client sees nothing', async () => {
  const r = await runFlow({ base: gw.url, github });
  const other = await registerOk(gw.url, DEFAULT_METADATA);
  const foreign = await tokenRequest(
    gw.url,
    { method: 'none', clientId: other.client_id },
    { token: r.token!.body.refresh_token! },
    '/introspect',
  );
  expect(foreign.body).toEqual({ active: false });
  const foreignAt = await tokenRequest(
    gw.url,
    { method: 'none', clientId: other.client_id },
    { token: r.token!.body.access_token! },
    '/introspect',
  );
  expect(foreignAt.body).toEqual({ active: false });
  // Another client cannot revoke it either (RFC 7009 §2.1): still active afterwards.
  await tokenRequest(
    gw.url,
    { method: 'none', clientId: other.client_id },
    { token: r.token!.body.access_token! },
    '/revoke',
  );
  expect((await tokenRequest(gw.url, r.auth, { token: r.token!.body.access_token! }, '/introspect')).body.active).toBe(
    true,
  );

  const revoked = await tokenRequest(gw.url, r.auth, { token: r.token!.body.refresh_token! }, '/revoke');
  expect(revoked.status).toBe(200);
  const after = await tokenRequest(gw.url, r.auth, { token: r.token!.body.refresh_token! }, '/introspect');
  expect(after.body).toEqual({ active: false });
});

test('revoking only the access token leaves the refresh token working', async () => {
  const r = await runFlow({ base: gw.url, github });
  const res = await tokenRequest(
    gw.url,
    r.auth,
    { token: r.token!.body.access_token!, token_type_hint: 'access_token' },
    '/revoke',
  );
  expect(res.status).toBe(200);
  expect((await tokenRequest(gw.url, r.auth, { token: r.token!.body.access_token! }, '/introspect')).body).toEqual({
    active: false,
  });
  const refreshed = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: r.token!.body.refresh_token!,
  });
  expect(refreshed.status).toBe(200);
  expect((await tokenRequest(gw.url, r.auth, { token: refreshed.body.access_token! }, '/introspect')).body.active).toBe(
    true,
  );
});

test('garbage and foreign JWTs introspect inactive and revoke with 200', async () => {
  const client = await registerOk(gw.url, DEFAULT_METADATA);
  const auth = { method: 'none' as const, clientId: client.client_id };
  const forged = `${Buffer.from('{"alg":"RS256","typ":"at+jwt","kid":"x"}').toString('base64url')}.${Buffer.from('{"sub":"a"}').toString('base64url')}.c2ln`;
  for (const token of ['not-a-token', forged]) {
    expect((await tokenRequest(gw.url, auth, { token }, '/introspect')).body).toEqual({ active: false });
    expect((await tokenRequest(gw.url, auth, { token }, '/revoke')).status).toBe(200);
  }
});
