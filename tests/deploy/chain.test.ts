/**
 * The chain, end to end, at both edges. The same requests — forged and valid — go
 *   - through the local edge of `npm start` (tests/support/stack.ts), and
 *   - through the Traefik of the Compose stack, executed from its generated configuration
 *     (tests/support/traefik-proxy.ts) in front of a real auth service (its /verify),
 * to the same real service: a server that reports every header it received. Both edges must give
 * the same status, the same CORS and WWW-Authenticate headers, and the service must see the same
 * headers: the identity from the decision only, never Authorization or Cookie, always its edge
 * secret. The OAuth flow that gets each edge its token goes through that edge too (through
 * Traefik: /register, /authorize, /interaction/…, /callback/github, /authorize/<uid>, /token).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AUTH_RESPONSE_HEADERS } from '../../auth/src/edge/chain.ts';
import { serviceEdgeSecret } from '../../auth/src/edge/edge-secret.ts';
import { EDGE_SECRET_HEADER, IDENTITY_HEADERS } from '../../contracts/headers.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { freePort, GATEWAY_EDGE, startStack, type Stack } from '../support/stack.ts';
import { startTraefikProxy, type TraefikProxy } from '../support/traefik-proxy.ts';

const EDGE_SECRET = randomBytes(32).toString('base64url');
const APP_ORIGIN = 'https://app.example';
const SERVICE = 'echo-stateful';
const OTHER = 'echo-stateless';

/** What the service received, by the test's own request id. */
const seen = new Map<string, { url: string; method: string; headers: IncomingHttpHeaders }>();
let echo: Server;
let github: GitHubStandin;
let auth: RunningAuth;
let traefik: TraefikProxy;
let stack: Stack;

interface Edge {
  name: 'local' | 'traefik';
  base: string;
  token: string;
  clientId: string;
}
const edges: Edge[] = [];

async function tokenAt(base: string): Promise<{ token: string; clientId: string }> {
  const flow = await runFlow({ base, github, params: { resource: `${base}/${SERVICE}/mcp` } });
  const token = flow.token?.body.access_token;
  if (!token) throw new Error(`no token from ${base}: ${JSON.stringify(flow.token?.body)}`);
  return { token, clientId: flow.client.client_id };
}

beforeAll(async () => {
  echo = createServer((req, res) => {
    const id = String(req.headers['x-test-request'] ?? '');
    seen.set(id, { url: req.url ?? '', method: req.method ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', vary: 'Accept-Encoding' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  github = await startGitHubStandin();
  const services = { MCP_ECHO_STATEFUL_ENABLED: 'true', MCP_ECHO_STATELESS_ENABLED: 'true' };

  // Traefik's public address is the PUBLIC_URL of the auth service behind it.
  const traefikPort = await freePort();
  auth = await startAuth({
    github,
    env: { PUBLIC_URL: `http://127.0.0.1:${traefikPort}`, EDGE_SECRET, ALLOWED_ORIGINS: APP_ORIGIN, ...services },
  });
  traefik = await startTraefikProxy({
    domain: '127.0.0.1',
    port: traefikPort,
    backends: { 'auth:8080': auth.url, [`${SERVICE}:3000`]: echoUrl, [`${OTHER}:3000`]: echoUrl },
  });
  stack = await startStack({
    github,
    env: {
      EDGE_SECRET,
      ALLOWED_ORIGINS: APP_ORIGIN,
      ...services,
      // The same report-everything server behind the local edge (an operator's own HTTP server).
      MCP_ECHO_STATEFUL_URL: `${echoUrl}/mcp`,
      MCP_ECHO_STATELESS_URL: `${echoUrl}/mcp`,
    },
  });
  for (const [name, base] of [
    ['local', stack.url],
    ['traefik', traefik.url],
  ] as const) {
    edges.push({ name, base, ...(await tokenAt(base)) });
  }
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await traefik?.stop();
  await auth?.stop();
  await github?.stop();
  echo?.close();
});

interface Case {
  method?: string;
  path: string;
  headers?: (edge: Edge) => Record<string, string>;
  body?: string;
}

const bearer = (e: Edge) => ({ authorization: `Bearer ${e.token}` });
const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const post = (path: string, headers: Case['headers'] = () => ({})): Case => ({
  method: 'POST',
  path,
  headers: (e) => ({ ...json, ...headers(e) }),
  body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
});

/** A tools/call of MCP 2026-07-28 (the `_meta` envelope), its headers as given. */
const modernCall = (name: string, headers: Record<string, string>, token = true): Case => ({
  method: 'POST',
  path: `/${SERVICE}/mcp`,
  headers: (e) => ({ ...json, ...(token ? bearer(e) : {}), 'mcp-protocol-version': '2026-07-28', ...headers }),
  body: JSON.stringify({
    jsonrpc: '2.0',
    id: 5,
    method: 'tools/call',
    params: {
      name,
      arguments: {},
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'chain-test', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  }),
});

/** MCP headers held to the body (auth/src/verify/mcp-headers.ts), by the decision at both edges. */
const MODERN_CASES: Record<string, Case> = {
  '2026-07-28, headers true': modernCall('whoami', { 'mcp-method': 'tools/call', 'mcp-name': 'whoami' }),
  '2026-07-28, headers true, Mcp-Name in Base64': modernCall('whoami', {
    'mcp-method': 'tools/call',
    'mcp-name': `=?base64?${Buffer.from('whoami').toString('base64')}?=`,
  }),
  '2026-07-28, forged Mcp-Name': modernCall('delete_everything', { 'mcp-method': 'tools/call', 'mcp-name': 'whoami' }),
  '2026-07-28, forged Mcp-Method': modernCall('whoami', { 'mcp-method': 'tools/list', 'mcp-name': 'whoami' }),
  '2026-07-28, no Mcp-Method': modernCall('whoami', { 'mcp-name': 'whoami' }),
  '2026-07-28, no Mcp-Name': modernCall('whoami', { 'mcp-method': 'tools/call' }),
  '2026-07-28, Mcp-Name not Base64': modernCall('whoami', { 'mcp-method': 'tools/call', 'mcp-name': '=?base64?!!?=' }),
  '2026-07-28, MCP-Protocol-Version differs from the envelope': modernCall('whoami', {
    'mcp-method': 'tools/call',
    'mcp-name': 'whoami',
    'mcp-protocol-version': '2025-11-25',
  }),
  // Without a token the answer is the challenge: nothing about the body is told first.
  '2026-07-28, forged Mcp-Name, no token': modernCall(
    'delete_everything',
    { 'mcp-method': 'tools/call', 'mcp-name': 'whoami' },
    false,
  ),
  '2025 client, a lying Mcp-Method': post(`/${SERVICE}/mcp`, (e) => ({ ...bearer(e), 'mcp-method': 'tools/call' })),
};

const CASES: Record<string, Case> = {
  'no token': post(`/${SERVICE}/mcp`),
  'bad token': post(`/${SERVICE}/mcp`, () => ({ authorization: 'Bearer not-a-token' })),
  'malformed Authorization': post(`/${SERVICE}/mcp`, () => ({ authorization: 'Bearer a b' })),
  'another scheme': post(`/${SERVICE}/mcp`, () => ({ authorization: 'Basic YTpi' })),
  'valid token': post(`/${SERVICE}/mcp`, bearer),
  'valid token, trailing slash and a query': post(`/${SERVICE}/mcp/?x=1`, bearer),
  'valid token, forged identity': post(`/${SERVICE}/mcp`, (e) => ({
    ...bearer(e),
    'x-user-id': 'github:666',
    'x-user-login': 'mallory',
    'x-user-email': 'mallory@example.com',
    'x-client-id': 'forged',
  })),
  // Traefik deletes it (underscoreHeadersStrategy); Node never reads it as X-User-Id.
  'valid token, underscore spelling of an identity header': post(`/${SERVICE}/mcp`, (e) => ({
    ...bearer(e),
    x_user_id: 'github:666',
  })),
  'valid token, forged edge secret': post(`/${SERVICE}/mcp`, (e) => ({ ...bearer(e), [EDGE_SECRET_HEADER]: 'forged' })),
  'valid token, a cookie': post(`/${SERVICE}/mcp`, (e) => ({ ...bearer(e), cookie: 'session=abc; other=1' })),
  'valid token, forged forwarding headers': post(`/${SERVICE}/mcp`, (e) => ({
    ...bearer(e),
    'x-forwarded-uri': `/${OTHER}/mcp`,
    'x-forwarded-host': 'evil.example',
    'x-forwarded-prefix': '/evil',
  })),
  // Were X-Forwarded-Method trusted, this would pass /verify as a preflight.
  'no token, forged X-Forwarded-Method OPTIONS': post(`/${SERVICE}/mcp`, () => ({ 'x-forwarded-method': 'OPTIONS' })),
  'valid token, allowed Origin': post(`/${SERVICE}/mcp`, (e) => ({ ...bearer(e), origin: APP_ORIGIN })),
  'valid token, foreign Origin': post(`/${SERVICE}/mcp`, (e) => ({ ...bearer(e), origin: 'https://evil.example' })),
  "another service's token": post(`/${OTHER}/mcp`, bearer),
  preflight: {
    method: 'OPTIONS',
    path: `/${SERVICE}/mcp`,
    headers: () => ({
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    }),
  },
  'OPTIONS that is not a preflight': { method: 'OPTIONS', path: `/${SERVICE}/mcp` },
  // Caddy 2.6 cannot give /verify a request's body (docs/edge.md "Caddy"): compared below.
  ...(GATEWAY_EDGE === 'caddy' ? {} : MODERN_CASES),
  GET: { method: 'GET', path: `/${SERVICE}/mcp`, headers: (e) => ({ ...bearer(e), accept: 'text/event-stream' }) },
  DELETE: { method: 'DELETE', path: `/${SERVICE}/mcp`, headers: (e) => ({ ...bearer(e), 'mcp-session-id': 's1' }) },
};

/** Paths no client may reach at either edge, whatever the token: status only (the bodies differ). */
const UNREACHABLE = [
  '/verify',
  '/verify?x=1',
  '/%76erify',
  '/health/../verify',
  '//verify',
  '/VERIFY',
  '/verify/',
  '/metrics',
  '/metrics/',
  '/%6detrics',
  '/health',
  `/${SERVICE}/mcp/x`,
  `/${SERVICE}/mcp/../../verify`,
  `/${SERVICE}`,
  '/a%2fb',
  '/nothing',
];

/** The CORS and challenge headers, as both edges must give them. */
const COMPARED = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
  'vary',
  'www-authenticate',
  'content-type',
];

interface Outcome {
  status: number;
  headers: Record<string, string | null>;
  body: unknown;
  /** What the service received; undefined when the request did not reach it. */
  service?: { method: string; url: string; headers: Record<string, unknown> };
}

/** One case at one edge, with each edge's own base URL and client id replaced by placeholders. */
async function send(edge: Edge, c: Case, id: string): Promise<Outcome> {
  const requestId = `${edge.name} ${id}`;
  const res = await fetch(edge.base + c.path, {
    method: c.method ?? 'GET',
    headers: { ...(c.headers?.(edge) ?? {}), 'x-test-request': requestId },
    body: c.body,
  });
  const placeholders = (s: string) => s.replaceAll(edge.base, '<base>').replaceAll(edge.clientId, '<client>');
  const text = placeholders(await res.text());
  const received = seen.get(requestId);
  seen.delete(requestId);
  const headers = Object.fromEntries(COMPARED.map((h) => [h, res.headers.get(h) && placeholders(res.headers.get(h)!)]));
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return {
    status: res.status,
    headers,
    body,
    service: received && {
      method: received.method,
      url: received.url,
      headers: Object.fromEntries(
        Object.entries(received.headers)
          // What differs by design: the hop's own forwarding headers, the connection.
          .filter(([k]) => !/^x-forwarded-|^x-real-ip$|^host$|^connection$|^content-length$|^x-test-request$/.test(k))
          .map(([k, v]) => [k, typeof v === 'string' ? placeholders(v) : v]),
      ),
    },
  };
}

/** Both edges' outcomes for a case. */
async function both(c: Case, id: string): Promise<Record<Edge['name'], Outcome>> {
  const [local, traefikOutcome] = await Promise.all(edges.map((e) => send(e, c, id)));
  return { local: local!, traefik: traefikOutcome! };
}

describe('both edges answer alike, and the service sees the same request', () => {
  test.each(Object.keys(CASES))('%s', async (id) => {
    const outcome = await both(CASES[id]!, id);
    expect(outcome.traefik).toEqual(outcome.local);
  });

  test.each(Object.keys(MODERN_CASES))('%s: refused before the service when the headers lie', async (id) => {
    const outcome = await both(MODERN_CASES[id]!, `${id} (again)`);
    const lies = !/headers true|no token/.test(id);
    for (const [edge, seenAt] of Object.entries(outcome)) {
      if (edge === 'local' && GATEWAY_EDGE === 'caddy') {
        // Caddy's forward_auth sends /verify no body: the request goes on, for the service to judge.
        expect(seenAt.status).toBe(id.endsWith('no token') ? 401 : 200);
        continue;
      }
      if (id.endsWith('no token')) {
        expect(seenAt.status).toBe(401);
      } else if (lies) {
        expect(seenAt.status).toBe(400);
        expect(seenAt.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32020 } });
        expect(seenAt.service).toBeUndefined();
      } else {
        expect(seenAt.status).toBe(200);
        expect(seenAt.service?.headers['mcp-name']).toBeDefined();
      }
    }
  });

  test('a large MCP body (6 MiB, over the SDK default) reaches the service at both edges; over 16 MiB, refused', async () => {
    const big = (bytes: number): Case => ({
      method: 'POST',
      path: `/${SERVICE}/mcp`,
      headers: (e) => ({ ...json, ...bearer(e) }),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'write_file', arguments: { content: 'x'.repeat(bytes) } },
      }),
    });
    const fits = await both(big(6 * 1024 * 1024), 'large body');
    for (const outcome of Object.values(fits)) {
      expect(outcome.status).toBe(200);
      expect(outcome.service).toBeDefined();
    }
    const over = await both(big(16 * 1024 * 1024 + 1), 'too large body');
    // The local edge (and Caddy) answer 413; Traefik's forwardAuth its own 401 (maxBodySize).
    expect(over.local.status).toBe(413);
    expect(over.traefik.status).toBe(401);
    for (const outcome of Object.values(over)) expect(outcome.service).toBeUndefined();
  }, 30_000);

  test.each(UNREACHABLE)('%s: refused at both', async (path) => {
    const outcome = await both({ path, headers: (e) => bearer(e) }, path);
    expect(outcome.traefik.status).toBe(outcome.local.status);
    expect([400, 404]).toContain(outcome.local.status);
    expect(outcome.local.service).toBeUndefined();
    expect(outcome.traefik.service).toBeUndefined();
  });

  test('the auth paths answer alike', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server',
      `/.well-known/oauth-protected-resource/${SERVICE}/mcp`,
      `/.well-known/oauth-authorization-server/${SERVICE}/mcp`,
      '/jwks',
    ]) {
      const outcome = await both({ path }, path);
      expect([path, outcome.traefik.status]).toEqual([path, outcome.local.status]);
      expect(outcome.local.status).toBe(200);
    }
  });
});

describe('what the service receives (either edge)', () => {
  const identity = {
    'x-user-id': 'github:1001',
    'x-user-login': 'octocat',
    'x-user-name': 'The Octocat',
    'x-user-email': 'octocat@example.com',
    'x-user-provider': 'github',
    'x-user-groups': '',
    'x-client-id': '<client>',
  };

  test.each(['local', 'traefik'] as const)('%s', async (name) => {
    const edge = edges.find((e) => e.name === name)!;
    const secret = serviceEdgeSecret(EDGE_SECRET, SERVICE);
    for (const id of [
      'valid token',
      'valid token, forged identity',
      'valid token, forged edge secret',
      'valid token, a cookie',
    ]) {
      const { status, service } = await send(edge, CASES[id]!, `${id} again`);
      expect([id, status]).toEqual([id, 200]);
      const h = service!.headers;
      // The identity from the decision only; the edge secret from the decision only.
      expect(Object.fromEntries(IDENTITY_HEADERS.map((k) => [k, h[k]]))).toEqual(identity);
      expect(h[EDGE_SECRET_HEADER]).toBe(secret);
      expect(AUTH_RESPONSE_HEADERS.every((k) => typeof h[k] === 'string')).toBe(true);
      // Never the client's credentials.
      expect(h.authorization).toBeUndefined();
      expect(h.cookie).toBeUndefined();
      expect(JSON.stringify(h)).not.toContain(edge.token);
      expect(JSON.stringify(h)).not.toMatch(/mallory|forged|github:666/);
      // `/<service>` stripped.
      expect(service!.url).toBe('/mcp');
    }
    // A non-CORS OPTIONS passes /verify without a token: the service gets its secret, no identity.
    const options = await send(edge, CASES['OPTIONS that is not a preflight']!, 'options again');
    expect(options.service!.headers[EDGE_SECRET_HEADER]).toBe(secret);
    expect(options.service!.headers['x-user-id']).toBeUndefined();
  });
});
