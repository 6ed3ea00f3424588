/**
 * GET /verify, spoken to exactly as Traefik's ForwardAuth does: GET, no body, the client's
 * original headers plus X-Forwarded-Method/-Proto/-Host/-Uri/-For. Every case of the contract
 * (docs/edge.md "The decision"), with its status, WWW-Authenticate and logged reason.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { decodeJwt, tokenRequest } from '../support/oauth.ts';
import { startRedis } from '../support/redis-server.ts';
import { RedisStore } from '../../auth/src/storage/redis.ts';
import { createAuthService } from '../../auth/src/app.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { createLogger } from '../../auth/src/log.ts';

let github: GitHubStandin;
let redis: Awaited<ReturnType<typeof startRedis>>;
let store: RedisStore;
let gw: RunningAuth;
let host: string;
let echo: FlowResult;

const env = {
  MCP_FETCH_ENABLED: 'true',
  MCP_ADMIN_ENABLED: 'true',
  MCP_ADMIN_SCOPES: 'mcp admin',
  REDIS_KEY_PREFIX: 'verify:',
};

beforeAll(async () => {
  github = await startGitHubStandin();
  github.addUser({ id: 3003, login: 'zoe', name: 'Zoë Ünicode', email: 'zoe@example.com' });
  redis = await startRedis();
  store = new RedisStore({ url: redis.url, keyPrefix: 'verify:' });
  gw = await startAuth({ github, store, env: { ...env, ALLOWED_GITHUB_USERS: 'octocat,ZOE' } });
  host = new URL(gw.url).host;
  echo = await runFlow({ base: gw.url, github });
});
afterAll(async () => {
  await gw.stop();
  await store.close();
  await redis.stop();
  await github.stop();
});

/** A request as Traefik's ForwardAuth sends it for an original request to `uri`. */
async function verify(uri: string, headers: Record<string, string> = {}, method = 'POST') {
  const res = await fetch(`${gw.url}/verify`, {
    headers: {
      'x-forwarded-method': method,
      'x-forwarded-proto': 'https',
      'x-forwarded-host': host,
      'x-forwarded-uri': uri,
      'x-forwarded-for': '203.0.113.7',
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, string>) : undefined,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const prm = (name: string) => `${gw.url}/.well-known/oauth-protected-resource/${name}/mcp`;

/**
 * Signs a token with the gateway's own current key (or another), for claims it would never issue.
 * jsonwebtoken makes the forgeries: an independent JWT implementation, off the hot path (the gateway
 * itself signs through oidc-provider and verifies with node:crypto, docs/performance.md).
 */
async function forge(
  payload: Record<string, unknown>,
  options: { key?: KeyObject; header?: Record<string, unknown> } = {},
) {
  const signing = gw.service.keys[0]!;
  const now = Math.floor(Date.now() / 1000);
  const base = decodeJwt(echo.token!.body.access_token!).payload;
  const claims = Object.fromEntries(
    Object.entries({ ...base, iat: now, exp: now + 600, ...payload }).filter(([, v]) => v !== undefined),
  );
  return jwt.sign(claims, options.key ?? createPrivateKey({ key: signing.jwk as never, format: 'jwk' }), {
    algorithm: 'RS256',
    header: { alg: 'RS256', typ: 'at+jwt', kid: signing.kid, ...options.header },
  });
}

function lastRefusal() {
  return gw.logs.filter((l) => l.msg === 'verify refused').at(-1);
}

test('preflight: 200 without a token and without identity', async () => {
  const r = await verify('/echo/mcp', {}, 'OPTIONS');
  expect(r.status).toBe(200);
  expect(r.headers.get('x-user-id')).toBeNull();
});

test('no token: 401 with resource_metadata and scope, no error code (RFC 6750 §3.1)', async () => {
  const r = await verify('/echo/mcp');
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${prm('echo')}", scope="mcp"`);
  expect(r.body).toEqual({ error: 'invalid_request', error_description: 'a Bearer access token is required' });
  expect(lastRefusal()).toMatchObject({ reason: 'no_token', status: 401, service: 'echo' });
});

test('another scheme: 401 challenge without error', async () => {
  const r = await verify('/echo/mcp', { authorization: 'Basic b2N0bzpjYXQ=' });
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).not.toContain('error=');
});

test.each(['Bearer', 'Bearer ', 'Bearer a b', 'Bearer tok"en'])(
  'malformed %j: 400 invalid_request',
  async (authorization) => {
    const r = await verify('/echo/mcp', { authorization });
    expect(r.status).toBe(400);
    expect(r.headers.get('www-authenticate')).toContain('error="invalid_request"');
    expect(r.body?.error).toBe('invalid_request');
  },
);

test('valid: 200 with the identity headers and nothing else of the token', async () => {
  const r = await verify('/echo/mcp?x=1', bearer(echo.token!.body.access_token!));
  expect(r.status).toBe(200);
  expect(Object.fromEntries([...r.headers].filter(([k]) => k.startsWith('x-user') || k === 'x-client-id'))).toEqual({
    'x-user-id': 'github:1001',
    'x-user-login': 'octocat',
    'x-user-name': 'The Octocat',
    'x-user-email': 'octocat@example.com',
    'x-user-provider': 'github',
    'x-user-groups': '',
    'x-client-id': echo.client.client_id,
  });
  expect(r.headers.get('authorization')).toBeNull();
});

test('the bearer scheme name is case-insensitive', async () => {
  const r = await verify('/echo/mcp', { authorization: `bearer ${echo.token!.body.access_token!}` });
  expect(r.status).toBe(200);
});

test('non-ASCII names travel percent-encoded; decodeURIComponent gives them back', async () => {
  const zoe = await runFlow({ base: gw.url, github, authorize: { login: 'zoe' } });
  const r = await verify('/echo/mcp', bearer(zoe.token!.body.access_token!));
  expect(r.status).toBe(200);
  expect(decodeURIComponent(r.headers.get('x-user-name')!)).toBe('Zoë Ünicode');
  expect(r.headers.get('x-user-login')).toBe('zoe');
  expect(decodeURIComponent(r.headers.get('x-user-id')!)).toBe('github:3003');
});

describe('invalid tokens: 401 invalid_token', () => {
  const cases: [string, () => Promise<string>, string][] = [
    ['garbage', async () => 'not.a.jwt', 'malformed'],
    [
      'bad signature',
      async () => {
        const [h, p, s] = echo.token!.body.access_token!.split('.');
        return `${h}.${p}.${s!.slice(0, -4)}${s!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
      },
      'bad_signature',
    ],
    ['wrong kid', () => forge({}, { header: { kid: 'not-our-key' } }), 'unknown_kid'],
    [
      'signed by a stranger with our kid',
      () => forge({}, { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }),
      'bad_signature',
    ],
    [
      'alg none',
      async () =>
        jwt.sign(decodeJwt(echo.token!.body.access_token!).payload, null, {
          algorithm: 'none',
          header: { alg: 'none', typ: 'at+jwt', kid: gw.service.keys[0]!.kid },
        }),
      'bad_algorithm',
    ],
    [
      'HS256 keyed with our public key',
      async () => {
        const pub = Buffer.from(JSON.stringify({ kty: 'RSA', n: gw.service.keys[0]!.jwk.n, e: 'AQAB' }));
        return jwt.sign(decodeJwt(echo.token!.body.access_token!).payload, pub, {
          algorithm: 'HS256',
          header: { alg: 'HS256', typ: 'at+jwt', kid: gw.service.keys[0]!.kid },
        });
      },
      'bad_algorithm',
    ],
    ['expired', () => forge({ exp: Math.floor(Date.now() / 1000) - 60 }), 'expired'],
    ['not yet valid', () => forge({ nbf: Math.floor(Date.now() / 1000) + 600 }), 'not_yet_valid'],
    ['wrong issuer', () => forge({ iss: 'https://evil.example' }), 'wrong_issuer'],
    ['wrong type', () => forge({}, { header: { typ: 'JWT' } }), 'bad_type'],
    ['a critical header extension', () => forge({}, { header: { crit: ['b64'], b64: true } }), 'malformed'],
    ['no audience', () => forge({ aud: undefined }), 'bad_claims'],
    ['two audiences', () => forge({ aud: ['a', 'b'] }), 'bad_claims'],
    ['grant that never existed', () => forge({ gid: 'no-such-grant', jti: 'fresh-jti' }), 'grant_revoked'],
  ];
  test.each(cases)('%s', async (_name, make, reason) => {
    const token = await make();
    const r = await verify('/echo/mcp', bearer(token));
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(
      new RegExp(
        `^Bearer resource_metadata="${prm('echo')}", scope="mcp", error="invalid_token", error_description="[^"]+"$`,
      ),
    );
    expect(r.body?.error).toBe('invalid_token');
    const refusal = lastRefusal();
    expect(refusal).toMatchObject({ reason, status: 401 });
    expect(gw.rawLogs.join('\n')).not.toContain(token);
  });
});

test('a token for another service: 401, naming the service it was asked for', async () => {
  const r = await verify('/fetch/mcp', bearer(echo.token!.body.access_token!));
  expect(r.status).toBe(401);
  expect(r.headers.get('www-authenticate')).toContain(`resource_metadata="${prm('fetch')}"`);
  expect(lastRefusal()).toMatchObject({ reason: 'wrong_audience', client: echo.client.client_id });
});

test('insufficient scope: 403 with the scopes needed', async () => {
  const narrow = await runFlow({ base: gw.url, github, params: { resource: `${gw.url}/admin/mcp`, scope: 'mcp' } });
  expect(narrow.token?.body.scope).toBe('mcp');
  const r = await verify('/admin/mcp', bearer(narrow.token!.body.access_token!));
  expect(r.status).toBe(403);
  expect(r.headers.get('www-authenticate')).toBe(
    `Bearer resource_metadata="${prm('admin')}", scope="mcp admin", error="insufficient_scope", error_description="the access token lacks the scope admin"`,
  );
  const full = await runFlow({ base: gw.url, github, params: { resource: `${gw.url}/admin/mcp`, scope: undefined } });
  expect((await verify('/admin/mcp', bearer(full.token!.body.access_token!))).status).toBe(200);
});

test('revocation takes effect at once, cached or not', async () => {
  const r = await runFlow({ base: gw.url, github });
  const at = r.token!.body.access_token!;
  expect((await verify('/echo/mcp', bearer(at))).status).toBe(200);
  expect((await verify('/echo/mcp', bearer(at))).status).toBe(200); // now cached
  await tokenRequest(gw.url, r.auth, { token: r.token!.body.refresh_token! }, '/revoke');
  const after = await verify('/echo/mcp', bearer(at));
  expect(after.status).toBe(401);
  expect(lastRefusal()).toMatchObject({ reason: 'grant_revoked' });
});

test('revoking one access token (RFC 7009) refuses it at once, cached or not', async () => {
  const r = await runFlow({ base: gw.url, github });
  const at = r.token!.body.access_token!;
  expect((await verify('/echo/mcp', bearer(at))).status).toBe(200);
  await tokenRequest(gw.url, r.auth, { token: at }, '/revoke');
  expect((await verify('/echo/mcp', bearer(at))).status).toBe(401);
  expect(lastRefusal()).toMatchObject({ reason: 'revoked' });
});

test('another replica hears of a revocation at once (Redis pub/sub) and refuses the cached token', async () => {
  const replicaStore = new RedisStore({ url: redis.url, keyPrefix: 'verify:' });
  const replica = await createAuthService({
    config: gw.config,
    store: replicaStore,
    logger: createLogger('silent'),
  });
  try {
    const r = await runFlow({ base: gw.url, github });
    const at = r.token!.body.access_token!;
    const ask = () => replica.decider.decide({ method: 'POST', uri: '/echo/mcp', host, authorization: `Bearer ${at}` });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    await tokenRequest(gw.url, r.auth, { token: r.token!.body.refresh_token! }, '/revoke');
    // The message crosses Redis; the replica refuses as soon as it arrives.
    const deadline = Date.now() + 2000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      status = (await ask()).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(status).toBe(401);
  } finally {
    await replica.close();
    await replicaStore.close();
  }
});

/** The replica's counters, read from /metrics. */
async function replicaCounters() {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  return { local: read('verify_revocation_local_total'), storage: read('verify_revocation_storage_reads_total') };
}

describe('the revocation replica: new tokens without a storage read, revocations still at once', () => {
  test('a refreshed token of a grant already seen is accepted with no storage read', async () => {
    const r = await runFlow({ base: gw.url, github });
    expect((await verify('/echo/mcp', bearer(r.token!.body.access_token!))).status).toBe(200);
    const refreshed = await tokenRequest(gw.url, r.auth, {
      grant_type: 'refresh_token',
      refresh_token: r.token!.body.refresh_token!,
    });
    const before = await replicaCounters();
    expect((await verify('/echo/mcp', bearer(refreshed.body.access_token!))).status).toBe(200);
    const after = await replicaCounters();
    expect(after).toEqual({ local: before.local + 1, storage: before.storage });
  });

  test('a new token revoked before its first use, of a grant already seen: refused, from the replica', async () => {
    const r = await runFlow({ base: gw.url, github });
    expect((await verify('/echo/mcp', bearer(r.token!.body.access_token!))).status).toBe(200);
    const refreshed = await tokenRequest(gw.url, r.auth, {
      grant_type: 'refresh_token',
      refresh_token: r.token!.body.refresh_token!,
    });
    const at = refreshed.body.access_token!;
    await tokenRequest(gw.url, r.auth, { token: at, token_type_hint: 'access_token' }, '/revoke');
    const before = await replicaCounters();
    expect((await verify('/echo/mcp', bearer(at))).status).toBe(401);
    expect(lastRefusal()).toMatchObject({ reason: 'revoked' });
    expect((await replicaCounters()).storage).toBe(before.storage);
  });

  test('a new token of a grant seen and then revoked: refused at once', async () => {
    const r = await runFlow({ base: gw.url, github });
    expect((await verify('/echo/mcp', bearer(r.token!.body.access_token!))).status).toBe(200);
    const refreshed = await tokenRequest(gw.url, r.auth, {
      grant_type: 'refresh_token',
      refresh_token: r.token!.body.refresh_token!,
    });
    // Revoking the refresh token ends the grant (RFC 7009 §2.1).
    await tokenRequest(gw.url, r.auth, { token: refreshed.body.refresh_token! }, '/revoke');
    expect((await verify('/echo/mcp', bearer(refreshed.body.access_token!))).status).toBe(401);
    expect(lastRefusal()).toMatchObject({ reason: 'grant_revoked' });
  });

  test('a replica started after a token was revoked copies the revocation, and hears new ones', async () => {
    const r = await runFlow({ base: gw.url, github });
    const first = r.token!.body.access_token!;
    await tokenRequest(gw.url, r.auth, { token: first, token_type_hint: 'access_token' }, '/revoke');
    const refreshed = await tokenRequest(gw.url, r.auth, {
      grant_type: 'refresh_token',
      refresh_token: r.token!.body.refresh_token!,
    });
    const second = refreshed.body.access_token!;

    const replicaStore = new RedisStore({ url: redis.url, keyPrefix: 'verify:' });
    const replica = await createAuthService({ config: gw.config, store: replicaStore, logger: createLogger('silent') });
    try {
      const ask = (at: string) =>
        replica.decider.decide({ method: 'POST', uri: '/echo/mcp', host, authorization: `Bearer ${at}` });
      // Its grant is unknown to the new replica: storage is read, and says it exists.
      expect((await ask(second)).status).toBe(200);
      // The revoked one is refused by the copy, synchronously: no storage read at all.
      const refused = ask(first);
      expect(refused).not.toBeInstanceOf(Promise);
      expect((refused as Awaited<typeof refused>).reason).toBe('revoked');

      // A third token of the grant, revoked through the other replica before this one ever sees it.
      const third = await tokenRequest(gw.url, r.auth, {
        grant_type: 'refresh_token',
        refresh_token: refreshed.body.refresh_token!,
      });
      await tokenRequest(
        gw.url,
        r.auth,
        { token: third.body.access_token!, token_type_hint: 'access_token' },
        '/revoke',
      );
      const deadline = Date.now() + 2000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        status = (await ask(third.body.access_token!)).status;
        if (status === 200) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(status).toBe(401);
    } finally {
      await replica.close();
      await replicaStore.close();
    }
  });
});

test('a user removed from ALLOWED_GITHUB_USERS is refused at the next request after the change', async () => {
  const r = await runFlow({ base: gw.url, github });
  const at = r.token!.body.access_token!;
  expect((await verify('/echo/mcp', bearer(at))).status).toBe(200);
  // The operator edits .env and restarts (same store, same issuer).
  const restarted = await createAuthService({
    config: loadConfig({
      PUBLIC_URL: gw.url,
      MCP_ECHO_ENABLED: 'true',
      ...env,
      ...githubEnv(),
      ALLOWED_GITHUB_USERS: 'zoë',
    }),
    store,
    logger: createLogger('silent'),
  });
  try {
    const d = await restarted.decider.decide({ method: 'POST', uri: '/echo/mcp', host, authorization: `Bearer ${at}` });
    expect(d.status).toBe(401);
    expect(d.reason).toBe('user_not_allowed');
    expect(d.headers['www-authenticate']).toContain('error="invalid_token"');
  } finally {
    await restarted.close();
  }
});

function githubEnv() {
  return {
    GITHUB_CLIENT_ID: github.clientId,
    GITHUB_CLIENT_SECRET: github.clientSecret,
    GITHUB_BASE_URL: github.baseUrl,
    GITHUB_API_URL: github.apiUrl,
  };
}

describe('requests /verify does not serve', () => {
  test('another host: 400', async () => {
    const r = await verify('/echo/mcp', {
      'x-forwarded-host': 'evil.example',
      ...bearer(echo.token!.body.access_token!),
    });
    expect(r.status).toBe(400);
  });

  test.each(['/nope/mcp', '/echo', '/echo/mcpx', '/', ''])('path %j: 404', async (uri) => {
    const r = await verify(uri, bearer(echo.token!.body.access_token!));
    expect(r.status).toBe(404);
    expect(r.body?.error).toBe('not_found');
  });
});

test('each refusal is logged once, at info, with its reason', async () => {
  const before = gw.logs.length;
  await verify('/echo/mcp');
  const lines = gw.logs.slice(before);
  expect(lines.filter((l) => l.msg === 'verify refused')).toHaveLength(1);
  expect(lines.find((l) => l.msg === 'verify refused')).toMatchObject({ level: 30, reason: 'no_token' });
});

test('/metrics counts decisions by status and reason, and cache use; never a token or user', async () => {
  await verify('/echo/mcp', bearer(echo.token!.body.access_token!));
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  expect(text).toMatch(/^verify_decisions_total\{status="200",reason="ok"\} \d+$/m);
  expect(text).toMatch(/^verify_decisions_total\{status="401",reason="no_token"\} \d+$/m);
  expect(text).toMatch(/^verify_cache_hits_total \d+$/m);
  expect(text).toMatch(/^verify_cache_entries \d+$/m);
  expect(text).toMatch(/^verify_revocation_local_total \d+$/m);
  expect(text).toMatch(/^verify_revocation_storage_reads_total \d+$/m);
  expect(text).not.toContain('octocat');
  expect(text).not.toContain(echo.token!.body.access_token!.slice(0, 20));
});

// One definition of an active token (auth/src/oidc/active.ts): introspection (RFC 7662) and /verify
// answer alike for every token, each asked at the token's own service.
describe('introspection and /verify agree on what is active', () => {
  const cases: [string, () => Promise<string>, boolean][] = [
    ['issued and valid', async () => echo.token!.body.access_token!, true],
    ['forged with our key, as issued', () => forge({}), true],
    ['expired', () => forge({ exp: Math.floor(Date.now() / 1000) - 60 }), false],
    ['without idp', () => forge({ idp: undefined }), false],
    ['without a login', () => forge({ preferred_username: undefined }), false],
    ['a user the allowlist does not admit', () => forge({ preferred_username: 'mallory' }), false],
    ['a grant that never existed', () => forge({ gid: 'no-such-grant', jti: 'agree-jti' }), false],
    [
      'signed by a stranger',
      () => forge({}, { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }),
      false,
    ],
  ];
  test.each(cases)('%s', async (_name, make, active) => {
    const token = await make();
    const service = new URL(String(decodeJwt(token).payload.aud)).pathname;
    const verified = await verify(service, bearer(token));
    const introspected = await tokenRequest(gw.url, echo.auth, { token }, '/introspect');
    expect(introspected.status).toBe(200);
    expect({ verify: verified.status === 200, introspection: introspected.body.active }).toEqual({
      verify: active,
      introspection: active,
    });
  });
});
