/**
 * What the authorization server refuses, and how: each with its OAuth error and status, never
 * a 500, and nothing half-done left behind (a replayed code revokes its grant).
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { DEFAULT_METADATA, runFlow } from '../support/flow.ts';
import { authorizeUrl, pkce, registerOk, tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

let github: GitHubStandin;
let gw: RunningAuth;

beforeAll(async () => {
  github = await startGitHubStandin();
  github.addUser({ id: 2002, login: 'mallory', name: 'Mallory' });
  gw = await startAuth({ github });
});
afterAll(async () => {
  await gw.stop();
  await github.stop();
});

afterEach(() => {
  // No request of any test may have made the server fail.
  expect(gw.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
});

async function authorizeError(params: Record<string, string | undefined>) {
  const client = await registerOk(gw.url, DEFAULT_METADATA);
  const person = new Person(gw.url, github);
  const url = authorizeUrl(gw.url, {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: DEFAULT_METADATA.redirect_uris[0],
    state: 's',
    resource: `${gw.url}/echo/mcp`,
    ...params,
  });
  return person.authorize(url);
}

describe('PKCE (OAuth 2.1 §4.1.1)', () => {
  test('missing: invalid_request back to the client', async () => {
    const back = await authorizeError({});
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(back.searchParams.get('state')).toBe('s');
  });

  test('plain: refused', async () => {
    const back = await authorizeError({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/code_challenge_method/);
  });

  test('wrong verifier: invalid_grant', async () => {
    const r = await runFlow({ base: gw.url, github, tokenParams: { code_verifier: pkce().verifier } });
    expect(r.token?.status).toBe(400);
    expect(r.token?.body.error).toBe('invalid_grant');
  });
});

test('code replay: refused, and the grant it came from is revoked', async () => {
  const r = await runFlow({ base: gw.url, github });
  expect(r.token?.status).toBe(200);
  const code = r.redirect.searchParams.get('code')!;
  const replay = await tokenRequest(gw.url, r.auth, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: DEFAULT_METADATA.redirect_uris[0],
    code_verifier: r.verifier,
    resource: `${gw.url}/echo/mcp`,
  });
  expect(replay.status).toBe(400);
  expect(replay.body.error).toBe('invalid_grant');
  const introspected = await tokenRequest(gw.url, r.auth, { token: r.token!.body.access_token! }, '/introspect');
  expect(introspected.body).toEqual({ active: false });
  const refresh = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: r.token!.body.refresh_token!,
  });
  expect(refresh.body.error).toBe('invalid_grant');
});

test('reuse of a rotated refresh token, once its successor was used, revokes the whole grant', async () => {
  const r = await runFlow({ base: gw.url, github });
  const first = r.token!.body.refresh_token!;
  const rotated = await tokenRequest(gw.url, r.auth, { grant_type: 'refresh_token', refresh_token: first });
  expect(rotated.status).toBe(200);
  // The successor is used: the grace window (REFRESH_TOKEN_REUSE_GRACE) no longer forgives `first`.
  const next = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: rotated.body.refresh_token!,
  });
  expect(next.status).toBe(200);
  const reuse = await tokenRequest(gw.url, r.auth, { grant_type: 'refresh_token', refresh_token: first });
  expect(reuse.body.error).toBe('invalid_grant');
  const after = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: next.body.refresh_token!,
  });
  expect(after.body.error).toBe('invalid_grant');
  const at = await tokenRequest(gw.url, r.auth, { token: next.body.access_token! }, '/introspect');
  expect(at.body).toEqual({ active: false });
});

test('redirect URI mismatch: an error page, never a redirect', async () => {
  const client = await registerOk(gw.url, DEFAULT_METADATA);
  const person = new Person(gw.url, github);
  const page = await person.request(
    authorizeUrl(gw.url, {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: 'https://attacker.example/cb',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    }),
  );
  expect(page.status).toBe(400);
  expect(page.headers.get('location')).toBeNull();
  expect(page.body).toMatch(/redirect_uri/);
  expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
});

test('a GitHub user not in ALLOWED_GITHUB_USERS: a 403 page, then access_denied to the client', async () => {
  const pages: { kind: string; status: number }[] = [];
  const client = await registerOk(gw.url, DEFAULT_METADATA);
  const person = new Person(gw.url, github);
  const { challenge } = pkce();
  const url = authorizeUrl(gw.url, {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: DEFAULT_METADATA.redirect_uris[0],
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'x',
  });
  await expect(
    person.authorize(url, { login: 'mallory', onPage: (kind, p) => pages.push({ kind, status: p.status }) }),
  ).rejects.toThrow(/not allowed/);
  expect(pages.at(-1)).toEqual({ kind: 'other', status: 403 });
  const refusal = gw.logs.find((l) => l.msg === 'login refused: user not allowed');
  expect(refusal).toMatchObject({ login: 'mallory' });
});

test('unknown resource: invalid_target', async () => {
  const back = await authorizeError({
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    resource: `${'http://127.0.0.1:1'}/other/mcp`,
  });
  expect(back.searchParams.get('error')).toBe('invalid_target');
});

describe('registration input', () => {
  test('malformed JSON: 400 invalid_request', async () => {
    const res = await fetch(`${gw.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"redirect_uris": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('a JSON array instead of an object: 400', async () => {
    const res = await fetch(`${gw.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[1,2]',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/invalid_request|invalid_client_metadata/);
  });

  test('oversized body: 413 invalid_request', async () => {
    const res = await fetch(`${gw.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], client_name: 'x'.repeat(100_000) }),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('wrong content type: 400 invalid_request', async () => {
    const res = await fetch(`${gw.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });
});

describe('token endpoint input', () => {
  test('oversized body: 413 invalid_request', async () => {
    const res = await fetch(`${gw.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=authorization_code&code=${'x'.repeat(100_000)}`,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('a JSON body: 400 invalid_request', async () => {
    const res = await fetch(`${gw.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('garbage form: an OAuth error, not a 500', async () => {
    const res = await fetch(`${gw.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '%%%&&&=',
    });
    expect([400, 401]).toContain(res.status);
    expect(((await res.json()) as { error: string }).error).toMatch(/invalid_request|invalid_client/);
  });

  test('unknown grant type: unsupported_grant_type', async () => {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    const res = await tokenRequest(
      gw.url,
      { method: 'none', clientId: client.client_id },
      { grant_type: 'password', username: 'a', password: 'b' },
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });
});
