/**
 * Login with any OpenID Connect provider (issue 13), against a real one: oidc-provider as the
 * stand-in IdP (tests/support/oidc-standin.ts), with discovery, JWKS, key rotation, PKCE, UserInfo.
 * The identity reaches /verify's headers; every forged or foreign ID token is refused with a page
 * that names the reason, and nothing is stored; a provider whose discovery fails leaves the
 * gateway running, says so on the login page, and is retried until it answers.
 */
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { startOidcStandin, type OidcStandin, type Tamper } from '../support/oidc-standin.ts';
import { Person, PageError } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

let idp: OidcStandin;
let gw: RunningAuth;

const USERS = [
  {
    sub: 'alice-0001',
    preferred_username: 'alice',
    name: 'Alice Liddell',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['engineering', 'on,call'],
  },
  // Claims an address at the allowed domain, not verified: not admitted by it.
  { sub: 'bob-0002', preferred_username: 'bob', email: 'bob@example.com', email_verified: false, groups: [] },
  { sub: 'carol-0003', preferred_username: 'carol', email: 'carol@example.com', email_verified: true },
];

function oidcEnv(standin: OidcStandin, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OIDC_ISSUER: standin.issuer,
    OIDC_CLIENT_ID: standin.clientId,
    OIDC_CLIENT_SECRET: standin.clientSecret,
    OIDC_NAME: 'Stand-in IdP',
    OIDC_SCOPES: 'openid email profile groups',
    ...extra,
  };
}

beforeAll(async () => {
  idp = await startOidcStandin({ users: USERS });
  gw = await startAuth({
    env: oidcEnv(idp, { ALLOWED_GROUPS: 'engineering', ALLOWED_EMAIL_DOMAINS: 'example.com' }),
    oidcTimings: { jwksCooldownMs: 0 },
  });
  idp.setRedirectUri(`${gw.url}/callback/oidc`);
  await gw.service.identities.start();
});

afterAll(async () => {
  await gw?.stop();
  await idp?.stop();
});

const login = (user: string) =>
  runFlow({ base: gw.url, person: new Person(gw.url, undefined, idp), authorize: { oidcUser: user } });

test('a person signs in at the provider; /verify hands the OIDC identity to the service', async () => {
  const { token } = await login('alice-0001');
  expect(token?.status).toBe(200);
  const res = await askVerify(gw.url, '/echo/mcp', `Bearer ${token!.body.access_token}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('x-user-id')).toBe('oidc:alice-0001');
  expect(res.headers.get('x-user-provider')).toBe('oidc');
  expect(res.headers.get('x-user-login')).toBe('alice');
  expect(res.headers.get('x-user-email')).toBe('alice@example.com');
  // A group holding a comma travels percent-encoded: the list splits on commas unambiguously.
  expect(res.headers.get('x-user-groups')).toBe('engineering,on%2Ccall');
  // PKCE, state and nonce went to the provider; UserInfo was read.
  expect(idp.requests).toEqual(expect.arrayContaining(['GET /auth', 'POST /token', 'GET /me']));
});

test('the login page offers the provider by its name', async () => {
  const person = new Person(gw.url, undefined, idp);
  const pages: string[] = [];
  await runFlow({
    base: gw.url,
    person,
    authorize: { oidcUser: 'alice-0001', onPage: (kind, page) => kind === 'login' && pages.push(page.body) },
  });
  expect(pages[0]).toContain('Continue with Stand-in IdP');
});

test('an unverified e-mail address at an allowed domain does not admit', async () => {
  const err = (await login('bob-0002').catch((e: unknown) => e)) as PageError;
  expect(err).toBeInstanceOf(PageError);
  expect(err.page.status).toBe(403);
  expect(err.page.body).toContain('ALLOWED_EMAIL_DOMAINS');
  expect(await gw.store.get('account:oidc:bob-0002')).toBeUndefined();
});

test.each<[Tamper, RegExp]>([
  ['wrong-issuer', /another issuer \(iss\)/],
  ['wrong-audience', /another application \(aud\)/],
  ['other-azp', /another application \(azp\)/],
  ['expired', /has expired/],
  ['wrong-nonce', /nonce/],
  ['replay', /nonce/],
  ['alg-none', /algorithm that is not accepted/],
  ['stranger-key', /signature that does not verify/],
  ['unknown-kid', /key the provider does not publish/],
])('an ID token forged as "%s" is refused with a page naming why; nothing is stored', async (mode, reason) => {
  idp.tamper(mode);
  const err = (await login('carol-0003').catch((e: unknown) => e)) as PageError;
  expect(err).toBeInstanceOf(PageError);
  expect(err.page.status).toBe(502);
  expect(err.page.body).toMatch(reason);
  expect(await gw.store.get('account:oidc:carol-0003')).toBeUndefined();
  expect(
    gw.logs.some((l) => l.msg === 'upstream login failed' && String(l.reason).startsWith('id_token refused')),
  ).toBe(true);
});

test('after the provider rotates its keys, logins go on (the JWKS is fetched again)', async () => {
  const before = idp.kid;
  idp.rotateKeys();
  expect(idp.kid).not.toBe(before);
  const { token } = await login('carol-0003');
  expect(token?.status).toBe(200);
  expect(idp.requests.filter((r) => r === 'GET /jwks').length).toBeGreaterThanOrEqual(2);
});

test('no secret of the provider or the person reaches the logs', () => {
  const all = gw.rawLogs.join('');
  expect(all).not.toContain(idp.clientSecret);
});

describe('a provider whose discovery fails at startup', () => {
  let down: OidcStandin;
  let gw2: RunningAuth;
  beforeAll(async () => {
    down = await startOidcStandin({ users: USERS });
    down.down = true;
    gw2 = await startAuth({
      env: oidcEnv(down, { ALLOWED_GROUPS: 'engineering' }),
      oidcTimings: { retryMs: 200, jwksCooldownMs: 0 },
    });
    down.setRedirectUri(`${gw2.url}/callback/oidc`);
  });
  afterAll(async () => {
    await gw2?.stop();
    await down?.stop();
  });

  test('the gateway runs, logs why, says so on the login page, and retries until the provider answers', async () => {
    await gw2.service.identities.start();
    const pages: string[] = [];
    const person = new Person(gw2.url, undefined, down);
    const failed = await runFlow({
      base: gw2.url,
      person,
      authorize: { oidcUser: 'alice-0001', onPage: (kind, page) => pages.push(page.body) },
    }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(PageError);
    expect(pages[0]).toContain('Stand-in IdP</strong> is unavailable right now');
    const warned = gw2.logs.find(
      (l) => l.msg === 'OpenID Connect provider unavailable: its discovery failed; retrying',
    );
    expect(String(warned?.reason)).toContain('HTTP 503');

    down.down = false;
    const deadline = Date.now() + 10_000;
    while (gw2.service.identities.upstream.get('oidc')!.unavailable?.() !== undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const { token } = await runFlow({
      base: gw2.url,
      person: new Person(gw2.url, undefined, down),
      authorize: { oidcUser: 'alice-0001' },
    });
    expect(token?.status).toBe(200);
  });
});
