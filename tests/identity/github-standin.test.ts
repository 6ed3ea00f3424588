/**
 * The stand-in's own contract: if it drifted from GitHub's behaviour, every test built on it
 * would prove less. Driven over real HTTP, as the gateway and a browser would.
 */
import { createHash } from 'node:crypto';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';

let gh: GitHubStandin;
beforeEach(async () => {
  gh = await startGitHubStandin({ clientId: 'Iv1.test', clientSecret: 'shh-secret' });
});
afterEach(async () => {
  await gh.stop();
});

const REDIRECT = 'http://127.0.0.1:9/callback/github';

function authorizeUrl(extra: Record<string, string> = {}) {
  const u = new URL(`${gh.baseUrl}/login/oauth/authorize`);
  u.search = new URLSearchParams({
    client_id: gh.clientId,
    redirect_uri: REDIRECT,
    state: 'st-123',
    scope: 'read:user user:email',
    ...extra,
  }).toString();
  return u.href;
}

async function exchange(fields: Record<string, string>, init: { accept?: string; basic?: boolean } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (init.accept !== undefined) headers.accept = init.accept;
  const body = new URLSearchParams(fields);
  if (init.basic) {
    headers.authorization = `Basic ${Buffer.from(`${body.get('client_id')}:${body.get('client_secret')}`).toString('base64')}`;
    body.delete('client_secret');
  }
  const res = await fetch(`${gh.baseUrl}/login/oauth/access_token`, { method: 'POST', headers, body });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

async function codeFor(login = 'octocat', extra: Record<string, string> = {}) {
  const location = new URL(await gh.approve(authorizeUrl(extra), login));
  return location.searchParams.get('code')!;
}

test('defaults: random client credentials, one user, GHE-style API URL', async () => {
  const other = await startGitHubStandin();
  try {
    expect(other.clientId).not.toBe('');
    expect(other.clientSecret.length).toBeGreaterThanOrEqual(20);
    expect(other.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(other.apiUrl).toBe(`${other.baseUrl}/api/v3`);
    expect(other.users).toEqual([{ id: 1001, login: 'octocat', name: 'The Octocat', email: 'octocat@example.com' }]);
    const second = await startGitHubStandin();
    expect(second.clientSecret).not.toBe(other.clientSecret);
    await second.stop();
  } finally {
    await other.stop();
  }
});

test('the authorize page has a labelled button per user, a Cancel button, and carries the parameters', async () => {
  gh.addUser({ id: 2002, login: 'hubot', name: 'Hubot' });
  const res = await fetch(authorizeUrl({ state: 'a"b<c' }));
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  expect(html).toContain('<html lang="en">');
  expect(html).toMatch(/<h1>Authorize [^<]+<\/h1>/);
  expect(html).toContain('>Authorize as octocat</button>');
  expect(html).toContain('>Authorize as hubot</button>');
  expect(html).toContain('>Cancel</button>');
  expect(html.match(/<form method="post" action="\/login\/oauth\/authorize">/g)).toHaveLength(3);
  expect(html).toContain(`name="client_id" value="${gh.clientId}"`);
  expect(html).toContain('name="state" value="a&quot;b&lt;c"');
  expect(html).not.toContain('a"b<c');
});

test('the authorize page refuses an unknown client (404) and a missing or non-http redirect_uri (400)', async () => {
  const unknown = await fetch(authorizeUrl({ client_id: 'nope' }));
  expect(unknown.status).toBe(404);
  expect(await unknown.text()).toContain('<h1>');
  const u = new URL(authorizeUrl());
  u.searchParams.delete('redirect_uri');
  expect((await fetch(u)).status).toBe(400);
  expect((await fetch(authorizeUrl({ redirect_uri: 'javascript:alert(1)' }))).status).toBe(400);
  expect((await fetch(authorizeUrl({ code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }))).status).toBe(
    400,
  );
  await expect(gh.approve(authorizeUrl({ client_id: 'nope' }), 'octocat')).rejects.toThrow(/404/);
});

test('approve() answers with a redirect to redirect_uri carrying a code and the state', async () => {
  const location = new URL(await gh.approve(authorizeUrl(), 'OctoCat'));
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  expect(location.searchParams.get('state')).toBe('st-123');
  expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{20}$/);
  expect(gh.requests).toEqual(['GET /login/oauth/authorize', 'POST /login/oauth/authorize']);
  await expect(gh.approve(authorizeUrl(), 'nobody')).rejects.toThrow(/no button for nobody/);
});

test('Cancel redirects back with access_denied and the state', async () => {
  const page = await (await fetch(authorizeUrl())).text();
  const cancel = page.match(/<form[\s\S]*?<\/form>/g)!.find((f) => f.includes('>Cancel</button>'))!;
  const fields = new URLSearchParams();
  for (const m of cancel.matchAll(/name="([^"]+)" value="([^"]*)"/g)) fields.append(m[1]!, m[2]!);
  const res = await fetch(`${gh.baseUrl}/login/oauth/authorize`, { method: 'POST', body: fields, redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.searchParams.get('error')).toBe('access_denied');
  expect(location.searchParams.get('error_description')).toBeTruthy();
  expect(location.searchParams.get('state')).toBe('st-123');
  expect(location.searchParams.has('code')).toBe(false);
});

test('a code is exchanged once for a token that reads the user; the second exchange fails', async () => {
  const code = await codeFor();
  const fields = { client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT };
  const first = await exchange(fields, { accept: 'application/json' });
  expect(first.status).toBe(200);
  const token = JSON.parse(first.text) as { access_token: string; token_type: string; scope: string };
  expect(token).toEqual({
    access_token: expect.stringMatching(/^gho_/),
    token_type: 'bearer',
    scope: 'read:user,user:email',
  });

  const again = await exchange(fields, { accept: 'application/json' });
  expect(again.status).toBe(200); // GitHub's errors come with HTTP 200
  expect(JSON.parse(again.text)).toMatchObject({ error: 'bad_verification_code' });

  const user = await fetch(`${gh.apiUrl}/user`, { headers: { authorization: `Bearer ${token.access_token}` } });
  expect(user.status).toBe(200);
  expect(await user.json()).toMatchObject({
    id: 1001,
    login: 'octocat',
    name: 'The Octocat',
    email: 'octocat@example.com',
    type: 'User',
    html_url: `${gh.baseUrl}/octocat`,
  });
  const emails = await fetch(`${gh.apiUrl}/user/emails`, { headers: { authorization: `token ${token.access_token}` } });
  expect(await emails.json()).toEqual([
    { email: 'octocat@example.com', primary: true, verified: true, visibility: 'public' },
  ]);
});

test('without Accept: application/json the token endpoint answers form-encoded, errors included', async () => {
  const code = await codeFor();
  const ok = await exchange({ client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT });
  expect(ok.type).toMatch(/^application\/x-www-form-urlencoded/);
  expect(new URLSearchParams(ok.text).get('access_token')).toMatch(/^gho_/);
  const bad = await exchange({ client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT });
  expect(new URLSearchParams(bad.text).get('error')).toBe('bad_verification_code');
});

test('HTTP Basic client authentication and JSON bodies are accepted', async () => {
  const code = await codeFor();
  const basic = await exchange(
    { client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT },
    { accept: 'application/json', basic: true },
  );
  expect(JSON.parse(basic.text)).toHaveProperty('access_token');

  const code2 = await codeFor();
  const res = await fetch(`${gh.baseUrl}/login/oauth/access_token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      client_id: gh.clientId,
      client_secret: gh.clientSecret,
      code: code2,
      redirect_uri: REDIRECT,
    }),
  });
  expect(await res.json()).toHaveProperty('access_token');
});

test('token endpoint refusals: credentials, redirect_uri, PKCE verifier, expiry', async () => {
  const base = { client_id: gh.clientId, client_secret: gh.clientSecret, redirect_uri: REDIRECT };
  const json = { accept: 'application/json' };
  const err = async (f: Record<string, string>) =>
    (JSON.parse((await exchange(f, json)).text) as { error?: string }).error;

  expect(await err({ ...base, client_secret: 'wrong', code: await codeFor() })).toBe('incorrect_client_credentials');
  expect(await err({ ...base, code: await codeFor(), redirect_uri: `${REDIRECT}/x` })).toBe('redirect_uri_mismatch');
  expect(await err({ ...base, code: 'f'.repeat(20) })).toBe('bad_verification_code');

  const verifier = 'v'.repeat(43);
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const pkce = { code_challenge: challenge, code_challenge_method: 'S256' };
  expect(await err({ ...base, code: await codeFor('octocat', pkce), code_verifier: 'w'.repeat(43) })).toBe(
    'bad_verification_code',
  );
  expect(await err({ ...base, code: await codeFor('octocat', pkce) })).toBe('bad_verification_code');
  expect(await err({ ...base, code: await codeFor('octocat', pkce), code_verifier: verifier })).toBeUndefined();

  const quick = await startGitHubStandin({ codeLifetimeMs: 1 });
  try {
    const location = new URL(
      await quick.approve(
        `${quick.baseUrl}/login/oauth/authorize?client_id=${quick.clientId}&redirect_uri=${REDIRECT}`,
        'octocat',
      ),
    );
    await new Promise((r) => setTimeout(r, 10));
    const res = await fetch(`${quick.baseUrl}/login/oauth/access_token`, {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: new URLSearchParams({
        client_id: quick.clientId,
        client_secret: quick.clientSecret,
        code: location.searchParams.get('code')!,
        redirect_uri: REDIRECT,
      }),
    });
    expect(await res.json()).toMatchObject({ error: 'bad_verification_code' });
  } finally {
    await quick.stop();
  }
});

test('the API refuses bad tokens like GitHub, 404s unknown paths, and failNext injects one failure', async () => {
  const bad = await fetch(`${gh.apiUrl}/user`, { headers: { authorization: 'Bearer gho_nope' } });
  expect(bad.status).toBe(401);
  expect(await bad.json()).toMatchObject({ message: 'Bad credentials', documentation_url: expect.any(String) });
  expect((await fetch(`${gh.apiUrl}/user`)).status).toBe(401);

  const missing = await fetch(`${gh.apiUrl}/repos/x/y`);
  expect(missing.status).toBe(404);
  expect(await missing.json()).toMatchObject({ message: 'Not Found' });

  const code = await codeFor();
  const token = JSON.parse(
    (
      await exchange(
        { client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT },
        { accept: 'application/json' },
      )
    ).text,
  ) as { access_token: string };
  const auth = { headers: { authorization: `Bearer ${token.access_token}` } };
  gh.failNext('user', 503);
  expect((await fetch(`${gh.apiUrl}/user`, auth)).status).toBe(503);
  expect((await fetch(`${gh.apiUrl}/user`, auth)).status).toBe(200);

  gh.failNext('token', 500);
  const failed = await exchange({
    client_id: gh.clientId,
    client_secret: gh.clientSecret,
    code: await codeFor(),
    redirect_uri: REDIRECT,
  });
  expect(failed.status).toBe(500);
  expect(gh.requests).toContain('GET /api/v3/repos/x/y');
});

test('/user/emails lists the given addresses, and needs the user:email scope', async () => {
  gh.users.push({
    id: 3003,
    login: 'private',
    email: null,
    emails: [
      { email: 'old@example.com', primary: false, verified: true },
      { email: 'me@example.com', primary: true, verified: true },
    ],
  });
  const token = async (scope: string) => {
    const code = new URL(await gh.approve(authorizeUrl({ scope }), 'private')).searchParams.get('code')!;
    const res = await exchange(
      { client_id: gh.clientId, client_secret: gh.clientSecret, code, redirect_uri: REDIRECT },
      { accept: 'application/json' },
    );
    return (JSON.parse(res.text) as { access_token: string }).access_token;
  };
  const withScope = await fetch(`${gh.apiUrl}/user/emails`, {
    headers: { authorization: `Bearer ${await token('user:email')}` },
  });
  expect(((await withScope.json()) as { email: string }[]).map((e) => e.email)).toEqual([
    'old@example.com',
    'me@example.com',
  ]);
  const without = await fetch(`${gh.apiUrl}/user/emails`, {
    headers: { authorization: `Bearer ${await token('read:user')}` },
  });
  expect(without.status).toBe(404);
});
