/**
 * GitHubProvider against the GitHub stand-in over real HTTP, and against small misbehaving
 * servers for the failures the stand-in does not play (malformed answers, silence, redirects).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GithubConfig } from '../../auth/src/config/load.ts';
import { GitHubProvider } from '../../auth/src/identity/github.ts';
import { UpstreamError } from '../../auth/src/identity/provider.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';

const REDIRECT = 'http://127.0.0.1:8000/callback/github';
const VERIFIER = 'a-long-enough-pkce-code-verifier-0123456789-abcdefghij';

let gh: GitHubStandin;
beforeEach(async () => {
  gh = await startGitHubStandin();
});
afterEach(async () => {
  await gh.stop();
});

const configFor = (s: GitHubStandin, overrides: Partial<GithubConfig> = {}): GithubConfig => ({
  clientId: s.clientId,
  clientSecret: s.clientSecret,
  baseUrl: s.baseUrl,
  apiUrl: s.apiUrl,
  ...overrides,
});

/** The browser's part: provider's URL → the stand-in's page → Authorize as `login` → back with a code. */
async function signIn(provider: GitHubProvider, login = 'octocat', state = 'state-1') {
  const location = new URL(
    await gh.approve(provider.authorizationUrl({ state, redirectUri: REDIRECT, codeVerifier: VERIFIER }), login),
  );
  expect(location.searchParams.get('state')).toBe(state);
  return location.searchParams.get('code')!;
}

/** The error `complete` throws, checked to be an UpstreamError that leaks no secret. */
async function failure(promise: Promise<unknown>, secrets: string[] = [gh.clientSecret]): Promise<UpstreamError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the login to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpstreamError);
  const { message, detail } = err as UpstreamError;
  expect(message).toMatch(/^GitHub /);
  for (const text of [message, detail ?? '']) {
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/gh[opsu]_[A-Za-z0-9]/); // no GitHub token of any kind
  }
  return err as UpstreamError;
}

interface Fake {
  url: string;
  seen: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[];
  stop(): Promise<void>;
}

/** A throwaway HTTP server answering with `handler`; records what it was sent. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Fake> {
  const seen: Fake['seen'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

/** A GitHub whose token endpoint works and whose /user answers `user` (status 200 unless given). */
function fakeGitHub(user: unknown, status = 200) {
  return serve((req, res) => {
    if (req.url === '/login/oauth/access_token')
      return json(res, 200, { access_token: 'gho_faketoken123', token_type: 'bearer', scope: '' });
    if (req.url === '/user') return json(res, status, user);
    return json(res, 404, { message: 'Not Found' });
  });
}

const fakeConfig = (url: string): GithubConfig => ({
  clientId: 'cid',
  clientSecret: 'fake-client-secret',
  baseUrl: url,
  apiUrl: url,
});
const completeAt = (p: GitHubProvider) => p.complete({ code: 'c0de', redirectUri: REDIRECT, codeVerifier: VERIFIER });

describe('authorizationUrl', () => {
  test('points at /login/oauth/authorize with the app, callback, state, scopes, no sign-up and S256 PKCE', () => {
    const provider = new GitHubProvider(configFor(gh));
    const url = new URL(provider.authorizationUrl({ state: 's t&ate', redirectUri: REDIRECT, codeVerifier: VERIFIER }));
    expect(`${url.origin}${url.pathname}`).toBe(`${gh.baseUrl}/login/oauth/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: gh.clientId,
      redirect_uri: REDIRECT,
      state: 's t&ate',
      scope: 'read:user user:email',
      allow_signup: 'false',
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
      code_challenge_method: 'S256',
    });
    expect(url.href).not.toContain(gh.clientSecret);
  });

  test('computes the challenge of RFC 7636 Appendix B', () => {
    const provider = new GitHubProvider(configFor(gh));
    const url = new URL(
      provider.authorizationUrl({
        state: 's',
        redirectUri: REDIRECT,
        codeVerifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
      }),
    );
    expect(url.searchParams.get('code_challenge')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
});

describe('complete', () => {
  test('happy path: code and verifier for a token, the token for the user', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    const user = await provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER });
    expect(user).toEqual({
      id: 'github:1001',
      login: 'octocat',
      name: 'The Octocat',
      email: 'octocat@example.com',
      emailVerified: true,
      provider: 'github',
    });
    // Whether the public address is verified only /user/emails says.
    expect(gh.requests.slice(-3)).toEqual([
      'POST /login/oauth/access_token',
      'GET /api/v3/user',
      'GET /api/v3/user/emails',
    ]);
  });

  test('a private email is read from /user/emails: the primary verified address', async () => {
    gh.addUser({
      id: 42,
      login: 'shy',
      name: null,
      email: null,
      emails: [
        { email: 'unverified@example.com', primary: false, verified: false },
        { email: 'work@example.com', primary: false, verified: true },
        { email: 'home@example.com', primary: true, verified: true },
      ],
    });
    const provider = new GitHubProvider(configFor(gh));
    const user = await provider.complete({
      code: await signIn(provider, 'shy'),
      redirectUri: REDIRECT,
      codeVerifier: VERIFIER,
    });
    expect(user).toEqual({
      id: 'github:42',
      login: 'shy',
      name: undefined,
      email: 'home@example.com',
      emailVerified: true,
      provider: 'github',
    });
    expect(gh.requests).toContain('GET /api/v3/user/emails');
  });

  test('no public email and no primary verified one: email is undefined', async () => {
    gh.addUser({
      id: 43,
      login: 'private',
      email: null,
      emails: [{ email: 'p@example.com', primary: true, verified: false }],
    });
    gh.addUser({ id: 44, login: 'nomail', email: null });
    const provider = new GitHubProvider(configFor(gh));
    for (const login of ['private', 'nomail']) {
      const user = await provider.complete({
        code: await signIn(provider, login),
        redirectUri: REDIRECT,
        codeVerifier: VERIFIER,
      });
      expect(user.login).toBe(login);
      expect(user.email).toBeUndefined();
    }
  });

  test('a failing /user/emails is no failure: the email is just unknown', async () => {
    const fake = await serve((req, res) => {
      if (req.url === '/login/oauth/access_token') return json(res, 200, { access_token: 'gho_faketoken123' });
      if (req.url === '/user') return json(res, 200, { id: 7, login: 'seven', name: 'Seven', email: null });
      return json(res, 500, { message: 'Server Error' });
    });
    try {
      const user = await completeAt(new GitHubProvider(fakeConfig(fake.url)));
      expect(user).toEqual({
        id: 'github:7',
        login: 'seven',
        name: 'Seven',
        email: undefined,
        emailVerified: false,
        provider: 'github',
      });
      expect(fake.seen.map((s) => s.path)).toEqual(['/login/oauth/access_token', '/user', '/user/emails']);
    } finally {
      await fake.stop();
    }
  });

  test('sends what GitHub documents: form-encoded exchange with the verifier, versioned API calls with a User-Agent', async () => {
    const fake = await fakeGitHub({ id: 9, login: 'nine', email: 'nine@example.com' });
    try {
      await new GitHubProvider(fakeConfig(fake.url), { userAgent: 'test-agent/1' }).complete({
        code: 'the-code',
        redirectUri: REDIRECT,
        codeVerifier: VERIFIER,
      });
      const [token, user] = fake.seen;
      expect(token!.method).toBe('POST');
      expect(token!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(token!.headers.accept).toBe('application/json');
      expect(Object.fromEntries(new URLSearchParams(token!.body))).toEqual({
        client_id: 'cid',
        client_secret: 'fake-client-secret',
        code: 'the-code',
        redirect_uri: REDIRECT,
        code_verifier: VERIFIER,
      });
      expect(user!.headers).toMatchObject({
        authorization: 'Bearer gho_faketoken123',
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'test-agent/1',
      });
    } finally {
      await fake.stop();
    }
  });
});

describe('refusals', () => {
  test('a wrong client secret', async () => {
    const provider = new GitHubProvider(configFor(gh, { clientSecret: 'not-the-secret' }));
    const code = await signIn(provider);
    const err = await failure(provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER }), [
      gh.clientSecret,
      'not-the-secret',
    ]);
    expect(err.message).toMatch(/^GitHub did not accept the login: .*credentials/);
    expect(err.detail).toContain('incorrect_client_credentials');
  });

  test('a code used twice', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    await provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER });
    const err = await failure(provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER }));
    expect(err.message).toMatch(/^GitHub did not accept the login: the sign-in code was wrong or has expired/);
    expect(err.detail).toContain('bad_verification_code');
  });

  test('a wrong PKCE verifier', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    const err = await failure(provider.complete({ code, redirectUri: REDIRECT, codeVerifier: `${VERIFIER}-other` }));
    expect(err.detail).toContain('bad_verification_code');
    expect(gh.requests).not.toContain('GET /api/v3/user');
  });

  test('a redirect_uri other than the one at authorize', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    const err = await failure(provider.complete({ code, redirectUri: `${REDIRECT}-x`, codeVerifier: VERIFIER }));
    expect(err.message).toMatch(/^GitHub did not accept the login: the callback URL/);
    expect(err.detail).toContain('redirect_uri_mismatch');
  });

  test('the token endpoint failing with 502', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    gh.failNext('token', 502);
    const err = await failure(provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER }));
    expect(err.message).toBe('GitHub is having trouble (HTTP 502). Try again in a moment.');
  });

  test('/user failing with 500', async () => {
    const provider = new GitHubProvider(configFor(gh));
    const code = await signIn(provider);
    gh.failNext('user', 500);
    const err = await failure(provider.complete({ code, redirectUri: REDIRECT, codeVerifier: VERIFIER }));
    expect(err.message).toBe('GitHub is having trouble (HTTP 500). Try again in a moment.');
    expect(err.detail).toContain('GET /user: HTTP 500');
  });

  test.each([
    ['not JSON', 'this is not json'],
    ['an array', [{ id: 1, login: 'octocat' }]],
    ['a string id', { id: '1001', login: 'octocat' }],
    ['a fractional id', { id: 1.5, login: 'octocat' }],
    ['no login', { id: 1001 }],
    ['an empty login', { id: 1001, login: '' }],
    ['a login with a line break', { id: 1001, login: 'octocat\r\nX-User-Id: github:1' }],
  ])('a malformed /user answer (%s)', async (_what, body) => {
    const fake = await fakeGitHub(body);
    try {
      const err = await failure(completeAt(new GitHubProvider(fakeConfig(fake.url))), ['fake-client-secret']);
      expect(err.message).toMatch(/^GitHub sent an answer the gateway did not understand/);
      expect(err.detail).toMatch(/^GET \/user: /);
    } finally {
      await fake.stop();
    }
  });

  test('a token answer without an access token', async () => {
    const fake = await serve((_req, res) => json(res, 200, { token_type: 'bearer' }));
    try {
      const err = await failure(completeAt(new GitHubProvider(fakeConfig(fake.url))), ['fake-client-secret']);
      expect(err.detail).toBe('token exchange: HTTP 200 without an access_token');
    } finally {
      await fake.stop();
    }
  });

  test('secrets GitHub echoes back in errors are scrubbed from message and detail', async () => {
    const fake = await serve((req, res) => {
      if (req.url === '/login/oauth/access_token')
        return json(res, 200, { error: 'odd', error_description: 'secret was fake-client-secret' });
      return json(res, 404, {});
    });
    const fake2 = await fakeGitHub({ message: 'Bad credentials: gho_faketoken123' }, 401);
    try {
      const first = await failure(completeAt(new GitHubProvider(fakeConfig(fake.url))), ['fake-client-secret']);
      expect(first.message).toContain('[redacted]');
      const second = await failure(completeAt(new GitHubProvider(fakeConfig(fake2.url))), ['fake-client-secret']);
      expect(second.message).toMatch(/^GitHub did not accept the login/);
      expect(second.detail).toBe('GET /user: HTTP 401 Bad credentials: [redacted]');
    } finally {
      await fake.stop();
      await fake2.stop();
    }
  });

  test('a redirect is not followed: the secret does not travel on', async () => {
    const target = await serve((_req, res) => json(res, 200, { access_token: 'gho_faketoken123' }));
    const fake = await serve((_req, res) => {
      res.writeHead(307, { location: `${target.url}/steal` });
      res.end();
    });
    try {
      const err = await failure(completeAt(new GitHubProvider(fakeConfig(fake.url))), ['fake-client-secret']);
      expect(err.detail).toMatch(/HTTP 307 redirect/);
      expect(target.seen).toHaveLength(0);
    } finally {
      await fake.stop();
      await target.stop();
    }
  });

  test('GitHub unreachable (a closed port)', async () => {
    const closed = await serve(() => undefined);
    await closed.stop();
    const err = await failure(completeAt(new GitHubProvider(fakeConfig(closed.url))), ['fake-client-secret']);
    expect(err.message).toBe('GitHub could not be reached. Try again in a moment.');
    expect(err.detail).toMatch(/^POST \/login\/oauth\/access_token: /);
  });

  test('GitHub not answering within the timeout', async () => {
    const silent = await serve(() => undefined);
    try {
      const started = Date.now();
      const err = await failure(completeAt(new GitHubProvider(fakeConfig(silent.url), { timeoutMs: 200 })), [
        'fake-client-secret',
      ]);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(err.message).toBe('GitHub could not be reached. Try again in a moment.');
      expect(err.detail).toBe('POST /login/oauth/access_token: no answer within 200 ms');
    } finally {
      await silent.stop();
    }
  });

  test('GitHub stalling in the middle of the /user body', async () => {
    const stall = await serve((req, res) => {
      if (req.url === '/login/oauth/access_token') return json(res, 200, { access_token: 'gho_faketoken123' });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id": 1001, '); // and never the rest
    });
    try {
      const err = await failure(completeAt(new GitHubProvider(fakeConfig(stall.url), { timeoutMs: 200 })), [
        'fake-client-secret',
      ]);
      expect(err.detail).toBe('GET /user: no answer within 200 ms');
    } finally {
      await stall.stop();
    }
  });
});

test('id and label', () => {
  const provider = new GitHubProvider(configFor(gh));
  expect(provider.id).toBe('github');
  expect(provider.displayName).toBe('GitHub');
});
