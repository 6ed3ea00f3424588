/**
 * Property-based fuzzing of every endpoint's inputs (issue 14), with fast-check, against the real
 * auth service on loopback: registration metadata, authorize and token parameters, introspection
 * and revocation, /verify's headers as Traefik forwards them (X-Forwarded-*, Authorization,
 * MCP headers) and JSON-RPC bodies given to the decision as the edge gives them. Whatever comes in:
 * no answer ≥ 500, the process still answering, and every refusal spec-shaped (an OAuth error
 * object, a JSON-RPC error, or an HTML page for a person). Bounded (FUZZ_RUNS, default 1000 per
 * property, seconds each) to stay within CI's budget; FUZZ_SEED repeats a run.
 */
import fc from 'fast-check';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { registerOk } from '../support/oauth.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true };

let github: GitHubStandin;
let gw: RunningAuth;
let clientId: string;

beforeAll(async () => {
  github = await startGitHubStandin();
  gw = await startAuth({ github, env: { MCP_ECHO_STATEFUL_ENABLED: 'true' } });
  clientId = (
    await registerOk(gw.url, { redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' })
  ).client_id;
});

afterAll(async () => {
  await gw?.stop();
  await github?.stop();
});

/** Strings that stress parsers: unicode, control characters, huge, URL-ish, JSON-ish. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '%', '%zz', '\u0000', '\r\n', 'null', '[]', '{}', '*', '..', '/', 'http://', 'javascript:x'),
  fc.webUrl(),
  fc.string({ minLength: 2000, maxLength: 9000 }),
);
const jsonValue = fc.jsonValue({ maxDepth: 3 });

/** The answer, and whether it is shaped as its kind of endpoint promises. */
async function ask(path: string, init: RequestInit): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${gw.url}${path}`, { ...init, redirect: 'manual' });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

function oauthShaped(r: { status: number; type: string; text: string }): boolean {
  if (r.status < 400) return true;
  if (!r.type.includes('application/json')) return false;
  const body = JSON.parse(r.text) as { error?: unknown };
  return typeof body.error === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(body.error);
}

const form = (entries: [string, string][]) => new URLSearchParams(entries).toString();
const pairsOf = (names: string[]) =>
  fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 12 })), nasty), { maxLength: 12 });

test('registration metadata (RFC 7591): never a 5xx, refusals are OAuth errors', async () => {
  const field = fc.constantFrom(
    'redirect_uris',
    'client_name',
    'token_endpoint_auth_method',
    'grant_types',
    'response_types',
    'scope',
    'client_uri',
    'logo_uri',
    'jwks',
    'jwks_uri',
    'software_statement',
    'contacts',
  );
  await fc.assert(
    fc.asyncProperty(
      fc.dictionary(fc.oneof(field, fc.string({ maxLength: 10 })), jsonValue, { maxKeys: 8 }),
      async (metadata) => {
        const r = await ask('/register', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(metadata),
        });
        expect(r.status).toBeLessThan(500);
        expect(oauthShaped(r)).toBe(true);
      },
    ),
    params,
  );
}, 120_000);

test('authorize parameters: never a 5xx; a redirect, a page, or an OAuth error', async () => {
  const names = [
    'response_type',
    'client_id',
    'redirect_uri',
    'scope',
    'state',
    'code_challenge',
    'code_challenge_method',
    'resource',
    'prompt',
    'request',
    'request_uri',
    'nonce',
  ];
  await fc.assert(
    fc.asyncProperty(pairsOf(names), fc.boolean(), fc.boolean(), async (pairs, realClient, post) => {
      const entries: [string, string][] = realClient ? [['client_id', clientId], ...pairs] : pairs;
      const r = post
        ? await ask('/authorize', {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: form(entries),
          })
        : await ask(`/authorize?${form(entries)}`, {});
      expect(r.status).toBeLessThan(500);
      // 431: a query over Node's header limit (16 KiB), refused by the HTTP server itself (RFC 6585 §5).
      const shaped = r.status === 431 || r.type.includes('text/html') || oauthShaped(r);
      if (r.status >= 400) expect([r.status, shaped]).toEqual([r.status, true]);
    }),
    params,
  );
}, 120_000);

test('token, introspection and revocation parameters: never a 5xx, refusals are OAuth errors', async () => {
  const names = [
    'grant_type',
    'code',
    'redirect_uri',
    'code_verifier',
    'refresh_token',
    'client_id',
    'client_secret',
    'scope',
    'resource',
    'token',
    'token_type_hint',
    'client_assertion',
    'client_assertion_type',
  ];
  const auth = fc.oneof(
    fc.constant(undefined),
    nasty.map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
    nasty.filter((s) => /^[\x20-\x7e]*$/.test(s)).map((s) => `Bearer ${s}`),
    fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/token', '/introspect', '/revoke'),
      pairsOf(names),
      auth,
      async (path, pairs, authorization) => {
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        if (authorization !== undefined) headers.authorization = authorization;
        const r = await ask(path, { method: 'POST', headers, body: form(pairs) });
        expect(r.status).toBeLessThan(500);
        expect(oauthShaped(r)).toBe(true);
      },
    ),
    params,
  );
}, 120_000);

test('/verify, with X-Forwarded-* as Traefik forwards them: never a 5xx, JSON refusals', async () => {
  const header = fc.string({ maxLength: 80 }).filter((s) => /^[\x20-\x7e]*$/.test(s));
  const uri = fc.oneof(
    fc.constantFrom('/echo-stateful/mcp', '/echo-stateful/mcp/', '/nope/mcp', '/', '/echo-stateful/mcp?x=%zz'),
    header.map((s) => `/${s}`),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.record(
        {
          'x-forwarded-method': fc.oneof(fc.constantFrom('POST', 'GET', 'DELETE', 'OPTIONS'), header),
          'x-forwarded-uri': uri,
          'x-forwarded-host': fc.oneof(fc.constant(new URL(gw.url).host), header),
          'x-forwarded-proto': fc.oneof(fc.constantFrom('https', 'http'), header),
          'x-forwarded-for': header,
          authorization: fc.oneof(
            header,
            header.map((s) => `Bearer ${s}`),
          ),
          'mcp-protocol-version': header,
          'mcp-session-id': header,
          'mcp-method': header,
          'mcp-name': header,
          origin: header,
        },
        { requiredKeys: [] },
      ),
      async (headers) => {
        const r = await ask('/verify', { headers });
        expect(r.status).toBeLessThan(500);
        if (r.status >= 400) expect(r.type).toContain('application/json');
      },
    ),
    params,
  );
}, 120_000);

test('JSON-RPC bodies and MCP headers as the edge gives them to the decision: never a 5xx, refusals shaped', async () => {
  // A valid token, so that the body is what decides.
  const { runFlow } = await import('../support/flow.ts');
  const flow = await runFlow({ base: gw.url, github, params: { resource: `${gw.url}/echo-stateful/mcp` } });
  const token = flow.token!.body.access_token!;
  const message = fc.oneof(
    jsonValue,
    fc.record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), jsonValue),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)),
        method: fc.oneof(
          fc.constantFrom('tools/call', 'initialize', 'resources/read', 'prompts/get', 'ping'),
          fc.string({ maxLength: 20 }),
        ),
        params: fc.oneof(
          jsonValue,
          fc.record({ name: nasty, uri: nasty, arguments: jsonValue, _meta: jsonValue }, { requiredKeys: [] }),
        ),
      },
      { requiredKeys: [] },
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(message, fc.array(message, { maxLength: 4 })),
      fc.record(
        {
          method: fc.option(nasty, { nil: undefined }),
          name: fc.option(nasty, { nil: undefined }),
          protocolVersion: fc.option(fc.constantFrom('2025-11-25', '2026-07-28', 'x'), { nil: undefined }),
        },
        { requiredKeys: [] },
      ),
      async (body, headers) => {
        const decision = await gw.service.decider.decide({
          method: 'POST',
          uri: '/echo-stateful/mcp',
          host: new URL(gw.url).host,
          authorization: `Bearer ${token}`,
          mcp: { headers: headers as never, body },
        });
        expect(decision.status).toBeLessThan(500);
        if (decision.status >= 400) {
          const b = decision.body as { error?: unknown; jsonrpc?: unknown };
          expect(typeof b.error === 'string' || (b.jsonrpc === '2.0' && typeof b.error === 'object')).toBe(true);
        }
      },
    ),
    params,
  );
}, 120_000);

test('every other route, any method, path suffix, query and body: never a 5xx', async () => {
  const prefix = fc.constantFrom(
    '/interaction/',
    '/interaction/x/login/',
    '/interaction/x/consent',
    '/callback/github',
    '/callback/oidc',
    '/callback/',
    '/register/',
    '/upstream/callback',
    '/.well-known/oauth-protected-resource/',
    '/.well-known/oauth-authorization-server/',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-client/',
    '/jwks',
    '/health',
    '/session/end',
    '/',
  );
  const segment = fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      prefix,
      segment,
      pairsOf(['code', 'state', 'error', 'error_description', 'r', 'csrf', 'decision', 'password', 'iss']),
      fc.oneof(
        fc.constant(undefined),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
      ),
      fc.oneof(
        nasty,
        jsonValue.map((v) => JSON.stringify(v)),
      ),
      fc.option(
        nasty.filter((t) => /^[\x20-\x7e]*$/.test(t)).map((t) => `Bearer ${t}`),
        { nil: undefined },
      ),
      async (method, path, suffix, query, type, body, authorization) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (authorization) headers.authorization = authorization;
        const withBody = method !== 'GET' && method !== 'HEAD';
        const r = await ask(`${path}${suffix}?${form(query)}`, {
          method,
          headers,
          ...(withBody ? { body } : {}),
        });
        expect([r.status, path + suffix]).toEqual([r.status < 500 ? r.status : -1, path + suffix]);
      },
    ),
    params,
  );
}, 120_000);

afterEach(async () => {
  // The process is alive and serving after every property.
  expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  // Nothing the gateway had to log as its own error (a crash caught, a server_error).
  expect(gw.logs.filter((l) => (l.level as number) >= 50).map((l) => l.msg)).toEqual([]);
});
