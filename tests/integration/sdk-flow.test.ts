/**
 * The whole flow as an MCP client lives it, driven by the official MCP SDK's OAuth support:
 * discovery from the 401-less start (PRM), dynamic registration, PKCE, GitHub login at the
 * stand-in, consent, token, refresh, revocation, and refresh after revocation failing.
 */
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { Person } from '../support/person.ts';
import { decodeJwt, tokenRequest } from '../support/oauth.ts';
import { TestOAuthProvider } from '../support/mcp-client.ts';

let github: GitHubStandin;
let gateway: RunningAuth;

beforeAll(async () => {
  github = await startGitHubStandin();
  gateway = await startAuth({ github });
});
afterAll(async () => {
  await gateway.stop();
  await github.stop();
});

test('discovery, registration, login, consent, token, refresh, revocation', async () => {
  const serverUrl = `${gateway.url}/echo/mcp`;
  const client = new TestOAuthProvider('SDK test client');

  // 1. No tokens: discovery + registration, then the SDK hands us the authorization URL.
  expect(await auth(client, { serverUrl })).toBe('REDIRECT');
  expect(client.info?.client_id).toBeTruthy();
  const authUrl = client.authorizationUrl!;
  expect(authUrl.origin).toBe(gateway.url);
  expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authUrl.searchParams.get('resource')).toBe(serverUrl);

  // 2. The person logs in at GitHub and consents.
  const person = new Person(gateway.url, github);
  const back = await person.authorize(authUrl.href, { login: 'octocat' });
  expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent']);
  expect(back.origin + back.pathname).toBe(client.redirect);
  // RFC 9207: the issuer comes back with the code.
  expect(back.searchParams.get('iss')).toBe(gateway.url);
  const code = back.searchParams.get('code')!;
  expect(code).toBeTruthy();

  // 3. Code → tokens.
  expect(await auth(client, { serverUrl, authorizationCode: code })).toBe('AUTHORIZED');
  const first = client.saved!;
  expect(first.refresh_token).toBeTruthy();
  const { header, payload } = decodeJwt(first.access_token);
  expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
  expect(header.kid).toBeTruthy();
  expect(payload).toMatchObject({
    iss: gateway.url,
    aud: serverUrl,
    sub: 'github:1001',
    client_id: client.info!.client_id,
    preferred_username: 'octocat',
    idp: 'github',
  });
  expect(String(payload.scope).split(' ')).toContain('mcp');

  // 4. Refresh rotates the refresh token.
  client.saved = { ...first, access_token: 'expired' };
  expect(await auth(client, { serverUrl })).toBe('AUTHORIZED');
  const second = client.saved!;
  expect(second.refresh_token).toBeTruthy();
  expect(second.refresh_token).not.toBe(first.refresh_token);
  expect(decodeJwt(second.access_token).payload.aud).toBe(serverUrl);

  // The access token is active (RFC 7662) for its own client.
  const clientAuth = { method: 'none' as const, clientId: client.info!.client_id };
  const active = await tokenRequest(gateway.url, clientAuth, { token: second.access_token }, '/introspect');
  expect(active.body).toMatchObject({
    active: true,
    aud: serverUrl,
    sub: 'github:1001',
    client_id: clientAuth.clientId,
  });

  // 5. Revocation of the refresh token (RFC 7009) ends the grant: the access token of the
  // grant turns inactive and refreshing fails.
  const revoked = await tokenRequest(
    gateway.url,
    clientAuth,
    { token: second.refresh_token!, token_type_hint: 'refresh_token' },
    '/revoke',
  );
  expect(revoked.status).toBe(200);
  const inactive = await tokenRequest(gateway.url, clientAuth, { token: second.access_token }, '/introspect');
  expect(inactive.body).toEqual({ active: false });
  const refresh = await tokenRequest(gateway.url, clientAuth, {
    grant_type: 'refresh_token',
    refresh_token: second.refresh_token!,
  });
  expect(refresh.status).toBe(400);
  expect(refresh.body.error).toBe('invalid_grant');

  // Nothing secret was ever logged.
  const logs = gateway.rawLogs.join('\n');
  for (const secret of [
    first.access_token,
    first.refresh_token!,
    second.access_token,
    second.refresh_token!,
    code,
    github.clientSecret,
  ]) {
    expect(logs).not.toContain(secret);
  }
});
