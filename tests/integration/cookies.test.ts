/** Behind TLS (Traefik, TRUST_PROXY): cookies are __Host-/__Secure-, Secure, HttpOnly, SameSite. */
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { DEFAULT_METADATA } from '../support/flow.ts';
import { authorizeUrl, pkce, registerOk } from '../support/oauth.ts';

let gw: RunningAuth;
const PUBLIC = 'https://gateway.localhost';
const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'gateway.localhost' };

beforeAll(async () => {
  gw = await startAuth({ env: { PUBLIC_URL: PUBLIC, TRUST_PROXY: 'true' }, localPassword: 'pw-for-cookies' });
});
afterAll(async () => {
  await gw.stop();
});

/** Registers a client and starts an authorization at `base`: the Set-Cookie headers of the first answer. */
async function startAuthorization(base: string, headers: Record<string, string> = {}, resource?: string) {
  const client = await registerOk(base, DEFAULT_METADATA);
  return fetch(
    authorizeUrl(base, {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: DEFAULT_METADATA.redirect_uris[0],
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
      resource,
    }),
    { headers, redirect: 'manual' },
  );
}

test('interaction and session cookies carry their prefixes and attributes', async () => {
  const res = await startAuthorization(gw.url, forwarded, `${PUBLIC}/echo/mcp`);
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toMatch(/^\/interaction\/[\w-]+$/);
  const cookies = res.headers.getSetCookie();
  expect(cookies.length).toBeGreaterThan(0);
  for (const c of cookies) {
    expect(c).toMatch(/^__(Secure|Host)-mcpgw\./);
    expect(c).toMatch(/; secure/i);
    expect(c).toMatch(/; httponly/i);
    expect(c).toMatch(/; samesite=lax/i);
    expect(c).not.toMatch(/; domain=/i);
  }
  const interaction = cookies.find((c) => c.startsWith('__Secure-mcpgw.interaction='));
  expect(interaction).toMatch(/; path=\/interaction\//i);
});

test('over plain http on loopback (the embedded default) cookies go without Secure and prefixes', async () => {
  const local = await startAuth({ localPassword: 'x' });
  try {
    const res = await startAuthorization(local.url);
    for (const c of res.headers.getSetCookie()) {
      expect(c).toMatch(/^mcpgw\./);
      expect(c).toMatch(/; httponly/i);
    }
  } finally {
    await local.stop();
  }
});
