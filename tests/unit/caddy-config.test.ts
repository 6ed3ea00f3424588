/**
 * The Caddy configuration generated from the route table and the chain (auth/src/edge/caddy.ts):
 * Caddy accepts it (`caddy validate`), it has a route for every table entry and every enabled
 * service, and — run for real, next to the local edge (edge.ts) in front of the same stand-in
 * backends and the same decision — every request of a corpus of awkward targets, methods and
 * headers gets the same answer at both edges, and reaches the same backend with the same path,
 * query, headers and body.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../auth/src/config/load.ts';
import { caddyConfig, findCaddy, percentEncodings, targetPattern } from '../../auth/src/edge/caddy.ts';
import { AUTH_RESPONSE_HEADERS, CHAIN, IDENTITY_HEADERS } from '../../auth/src/edge/chain.ts';
import { createEdge } from '../../auth/src/edge/edge.ts';
import type { Upstream } from '../../auth/src/edge/proxy.ts';
import { AUTH_ROUTES, INTERNAL_ROUTES, serviceRoutes } from '../../auth/src/edge/routes.ts';
import { freePort } from '../../auth/src/http/free-port.ts';
import { createLogger } from '../../auth/src/log.ts';
import type { Decision, VerifyDecider, VerifyRequest } from '../../auth/src/verify/decision.ts';
import { forwardAuthRequest, isVerifyPath, writeDecision } from '../../auth/src/verify/handler.ts';

const CADDY = findCaddy();
if (!CADDY) throw new Error("caddy is not on PATH: install Debian's caddy (apt-get install caddy)");

type Json = Record<string, unknown>;
const listen = async (server: Server) => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

// ---- The backends both edges send to --------------------------------------------------------

/** What a backend received: who it was, the request line's target, the headers that matter. */
interface Seen {
  to: string;
  url: string;
  method: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}
const SEEN_HEADERS = [
  'host',
  'authorization',
  'cookie',
  'origin',
  'content-type',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-for',
  'x_user_id',
  ...AUTH_RESPONSE_HEADERS,
];

/** Event streams (`?sse=1`) whose client went away, as the backend saw it. */
let streamsClosed = 0;

function backend(to: string, seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const headers = Object.fromEntries(SEEN_HEADERS.map((h) => [h, req.headers[h]]));
      seen.push({ to, url: req.url ?? '', method: req.method ?? '', body, headers });
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      if (query.has('sse')) {
        // One event now, and (`sse=1`) the rest when the client goes: a buffering hop never
        // delivers it.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('event: message\ndata: first\n\n');
        if (query.get('sse') === 'end') res.end();
        else res.on('close', () => streamsClosed++);
        return;
      }
      const vary = query.get('vary');
      res
        .writeHead(200, { 'content-type': 'application/json', ...(vary && { vary }) })
        .end(JSON.stringify({ to, url: req.url }));
    });
  };
}

/** The decision, standing in for /verify's: by the Authorization header. */
const decisions: VerifyRequest[] = [];
const EDGE_SECRET = 'edge-secret-of-the-service';
function decide(req: VerifyRequest): Decision {
  decisions.push(req);
  const service = /^\/([a-z][a-z0-9-]*)\/mcp/.exec(req.uri)?.[1];
  if (!service) return { status: 404, headers: {}, reason: 'unknown_service' };
  if (req.origin === 'http://evil.example')
    return {
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: { error: 'access_denied', error_description: 'origin' },
      reason: 'origin_refused',
    };
  if (req.method === 'OPTIONS') return { status: 200, headers: { 'x-gateway-edge': EDGE_SECRET }, reason: 'preflight' };
  if (req.authorization === 'Bearer good')
    return {
      status: 200,
      headers: {
        'x-gateway-edge': EDGE_SECRET,
        'x-user-id': 'github:1001',
        'x-user-login': 'octocat',
        'x-user-name': '',
        'x-user-email': 'o%C3%A9@example.com',
        'x-user-provider': 'github',
        'x-client-id': 'client-1',
      },
      reason: 'ok',
    };
  const challenge = `Bearer resource_metadata="http://x/.well-known/oauth-protected-resource/${service}/mcp"`;
  if (req.authorization === 'Bearer narrow')
    return {
      status: 403,
      headers: { 'www-authenticate': `${challenge}, error="insufficient_scope"`, 'content-type': 'application/json' },
      body: { error: 'insufficient_scope', error_description: 'scope' },
      reason: 'insufficient_scope',
    };
  return {
    status: 401,
    headers: { 'www-authenticate': challenge, 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: { error: 'invalid_request', error_description: 'a Bearer access token is required' },
    reason: 'no_token',
  };
}
const decider = { decide, log: () => undefined } as unknown as VerifyDecider;

// ---- Both edges -------------------------------------------------------------------------------

const seen: Seen[] = [];
const servers: Server[] = [];
let authPort: number;
let upstreams: Map<string, Upstream>;
let localPort: number;
let caddyPort: number;
let caddy: ChildProcess;
let caddyLog = '';
let dir: string;
const PUBLIC_URL = 'https://mcp.example.com';

function generated(port: number, storageDir = '/nonexistent') {
  return caddyConfig({
    listen: { host: '127.0.0.1', port },
    publicUrl: PUBLIC_URL,
    auth: { host: '127.0.0.1', port: authPort },
    services: upstreams,
    storageDir,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'caddy-config-test-'));
  const authBackend = backend('auth', seen);
  const auth = createServer((req, res) => {
    if (isVerifyPath(req.url)) {
      // As /verify: what it was asked is recorded with the decision.
      writeDecision(res, decide(forwardAuthRequest(req)));
      return;
    }
    authBackend(req, res);
  });
  const echo = createServer(backend('service echo', seen));
  const mine = createServer(backend('service mine', seen));
  servers.push(auth, echo, mine);
  authPort = await listen(auth);
  upstreams = new Map<string, Upstream>([
    ['echo', { host: '127.0.0.1', port: await listen(echo) }],
    // An operator's server with MCP at another path.
    ['mine', { host: '127.0.0.1', port: await listen(mine), path: '/other/place' }],
    // Enabled, but nothing listens there.
    ['gone', { host: '127.0.0.1', port: await freePort() }],
  ]);
  const config = {
    publicUrl: PUBLIC_URL,
    services: [...upstreams.keys()].map((name) => ({ name })),
  } as unknown as Config;
  const local = createServer(
    createEdge({ config, decider, auth: authBackend, upstreams, logger: createLogger('silent') }),
  );
  servers.push(local);
  localPort = await listen(local);

  caddyPort = await freePort();
  const file = join(dir, 'caddy.json');
  writeFileSync(file, JSON.stringify(generated(caddyPort, join(dir, 'data'))));
  caddy = spawn(CADDY, ['run', '--config', file], {
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  caddy.stderr!.on('data', (d: Buffer) => (caddyLog += d.toString()));
  for (const deadline = Date.now() + 10_000; !caddyLog.includes('serving initial configuration');) {
    if (caddy.exitCode !== null || Date.now() > deadline) throw new Error(`caddy did not start:\n${caddyLog}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

afterAll(async () => {
  if (caddy && caddy.exitCode === null) {
    caddy.kill('SIGTERM');
    await once(caddy, 'exit');
  }
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

// ---- The configuration itself ---------------------------------------------------------------

test('caddy validate accepts the generated configuration', () => {
  const file = join(dir, 'validate.json');
  writeFileSync(file, JSON.stringify(generated(8000, join(dir, 'validate-data'))));
  const run = spawnSync(CADDY, ['validate', '--config', file], {
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    encoding: 'utf8',
  });
  expect({ status: run.status, output: run.status === 0 ? '' : run.stdout + run.stderr }).toEqual({
    status: 0,
    output: '',
  });
  expect(run.stdout + run.stderr).toContain('Valid configuration');
});

type Route = { match?: Json[]; handle: Json[]; terminal?: boolean };
const routesOf = (config: Json) =>
  ((config.apps as Json).http as { servers: { gateway: { routes: Route[]; listen: string[] } } }).servers.gateway;
const patterns = (route: Route) =>
  (route.match ?? []).map(
    (m) => (m.vars_regexp as Record<string, { pattern: string }> | undefined)?.['{http.request.uri}']?.pattern,
  );

test('a route for every table entry and every enabled service; no admin endpoint, no automatic HTTPS', () => {
  const config = generated(8000);
  const server = routesOf(config);
  expect(server.listen).toEqual(['127.0.0.1:8000']);
  expect(config.admin).toEqual({ disabled: true, config: { persist: false } });
  expect(JSON.stringify(config)).toContain('"automatic_https":{"disable":true}');
  // No access log: nothing asks Caddy to log requests (Authorization, Cookie).
  expect(JSON.stringify(server)).not.toContain('"logs"');

  const handlerOf = (pattern: string) => server.routes.find((r) => patterns(r).includes(pattern))?.handle;
  for (const r of AUTH_ROUTES) {
    const handle = JSON.stringify(handlerOf(targetPattern(r)) ?? null);
    expect([r.path, handle]).toEqual([r.path, expect.stringContaining(`"dial":"127.0.0.1:${authPort}"`)]);
    expect(handle).toContain('"handler":"reverse_proxy"');
    expect(handle).toContain('"buffer_requests":true');
  }
  for (const r of INTERNAL_ROUTES) {
    const handle = handlerOf(targetPattern(r));
    expect([r.path, handle?.[0]?.status_code]).toEqual([r.path, 404]);
  }
  for (const name of upstreams.keys()) {
    const route = server.routes.find((x) => patterns(x)[0] === targetPattern(serviceRoutes(name)[0]!))!;
    expect(patterns(route)).toEqual(serviceRoutes(name).map(targetPattern));
    const chain = JSON.stringify(route.handle);
    // Each step of the chain is there: the strips, /verify and its headers, the prefix.
    for (const step of CHAIN) {
      if (step.step === 'strip') expect(chain).toContain(JSON.stringify({ delete: step.headers }));
      if (step.step === 'forward-auth') {
        expect(chain).toContain(`"uri":"${step.path}?"`);
        for (const h of step.responseHeaders) expect(chain).toContain(`"set":{"${h}":`);
      }
      if (step.step === 'strip-prefix') expect(chain).toContain(`"strip_path_prefix":"/${name}"`);
    }
    expect(chain).toContain(`"dial":"127.0.0.1:${upstreams.get(name)!.port}"`);
    // Streams flush by themselves (text/event-stream); `flush_interval -1` would keep a stream to
    // the service open after its client has gone (caddy.ts).
    expect(chain).not.toContain('flush_interval');
    // The body read whole before it goes on, bounded by request_body, never by max_buffer_size
    // (caddy.ts `bounded`: a race in Caddy 2.6 that cuts event streams short otherwise).
    expect(chain).toContain('"buffer_requests":true');
    expect(chain).toMatch(/"handler":"request_body","max_size":\d+/);
    expect(chain).not.toContain('max_buffer_size');
  }
  // Internal paths before services before auth (routeOf's order), and a 404 for the rest.
  const order = server.routes.map((r) => patterns(r)[0]);
  const first = (p: string) => order.indexOf(p);
  expect(first(targetPattern(INTERNAL_ROUTES[0]!))).toBeLessThan(first(targetPattern(serviceRoutes('echo')[0]!)));
  expect(first(targetPattern(serviceRoutes('gone')[0]!))).toBeLessThan(first(targetPattern(AUTH_ROUTES[0]!)));
  expect(server.routes.at(-1)).toEqual({ handle: [expect.objectContaining({ status_code: 404 })], terminal: true });
});

test('percent-encodings are read as normalizeTarget reads them', () => {
  const { refused, rewrites } = percentEncodings();
  expect(refused).toEqual(['00', '23', '25', '2F', '3B', '3F', '5C']);
  const to = (s: string) => rewrites.find((r) => r.spellings.includes(s))?.to;
  expect([to('7e'), to('7E'), to('41'), to('2e'), to('c3'), to('C3'), to('20')]).toEqual([
    '~',
    '~',
    'A',
    '.',
    '%C3',
    undefined,
    undefined,
  ]);
});

// ---- Both edges, side by side ---------------------------------------------------------------

interface Probe {
  method?: string;
  target: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Outcome {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** What the backends received. */
  backend: Seen[];
  /** What the decision was asked. */
  verify: VerifyRequest[];
}

/** One request, exactly as written (no URL normalisation on the way), and what it caused. */
async function send(port: number, probe: Probe): Promise<Outcome> {
  const seenBefore = seen.length;
  const decidedBefore = decisions.length;
  const res = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: probe.method ?? 'GET',
          path: probe.target,
          headers: { host: 'mcp.example.com', ...probe.headers },
          agent: false,
        },
        (answer) => {
          let body = '';
          answer.on('data', (d: Buffer) => (body += d.toString()));
          answer.on('end', () => resolve({ status: answer.statusCode!, headers: answer.headers, body }));
        },
      );
      req.on('error', reject);
      req.end(probe.body);
    },
  );
  const h = res.headers;
  const outcome: Outcome = {
    status: res.status,
    body: res.body,
    headers: {
      'content-type': h['content-type'],
      vary: h.vary,
      'www-authenticate': h['www-authenticate'],
      'cache-control': h['cache-control'],
      server: h.server,
      ...Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('access-control-'))),
    },
    // The auth service is in the local edge's process (no X-Forwarded-* there); X-Forwarded-For
    // is the client's address either way.
    backend: seen.slice(seenBefore).map((s) => ({
      ...s,
      headers: {
        ...s.headers,
        'x-forwarded-for': undefined,
        ...(s.to === 'auth' && { 'x-forwarded-proto': undefined, 'x-forwarded-host': undefined }),
      },
    })),
    // Caddy's forward_auth gives /verify no body: the MCP headers are held to it at the local
    // edge only (docs/edge.md "Caddy"; tests/deploy/chain.test.ts asserts both sides of that).
    verify: decisions.slice(decidedBefore).map(({ mcp: _mcp, ...asked }) => asked),
  };
  // Go answers a target it cannot parse (`%zz`) itself, before Caddy, in plain text: the status
  // is compared, not the words.
  if (res.status === 400 && /^\/[^?]*%(?![0-9a-f]{2})/i.test(probe.target)) {
    outcome.body = '(refused)';
    outcome.headers = {};
  }
  return outcome;
}

const table = [
  ...AUTH_ROUTES.flatMap((r) =>
    r.match === 'exact' ? [r.path, `${r.path}/`, `${r.path}x`] : [r.path, `${r.path}a/b`],
  ),
  ...INTERNAL_ROUTES.flatMap((r) => [r.path, `${r.path}x`, `${r.path}?x=1`]),
];
const spelled = [
  '/',
  '/nothing',
  '/nothing?/verify',
  '/%76erify',
  '/Verify',
  '/VERIFY',
  '/health/../verify',
  '//verify',
  '/./verify',
  '/verify/.',
  '/x/%2e%2e/verify',
  '/TOKEN',
  '/tok%65n',
  '/token?%2F',
  '/token?a=1&b=%2f',
  '/token/..',
  '/register/x/..',
  '/register/%2e%2e/token',
  '/register/a%40b%2bc',
  '/authorize/%c3%a9%7e%41',
  "/authorize/a;b=c,d!$&'()*+:@[]",
  '/interaction/%C3%A9/../x//y/./z/',
  '/callback/github?code=1&state=%3F',
  '/.well-known/oauth-authorization-server/echo/mcp',
  '/.well-known/oauth-protected-resource/echo/mcp?x',
  '/.well-known/openid-configurationx',
  '/a%2Fb',
  '/a%2fb',
  '/token%2F',
  '/a%5Cb',
  '/a%00',
  '/a%3B',
  '/a%25',
  '/a%3F',
  '/a%3f',
  '/a%23',
  '/a%zz',
  '/a%',
  '*',
  'http://mcp.example.com/token',
];
const services = [
  '/echo/mcp',
  '/echo/mcp/',
  '/echo/mcp?x=1&y=%2F',
  '/echo/mcp?',
  '/Echo/mcp',
  '/echo/MCP',
  '/echo/mcp/x',
  '/echo/mcpx',
  '/echo//mcp',
  '/echo/./mcp',
  '/x/../echo/mcp',
  '/%65cho/mcp',
  '/echo/%6dcp',
  '/echo/mcp/..',
  '/echo/mcp/x/..',
  '/echo/mcp/.',
  '/mine/mcp',
  '/mine/mcp/?q=1',
  '/gone/mcp',
  '/other/mcp',
];
const forged = {
  'x-user-id': 'github:666',
  'x-user-login': 'mallory',
  'x-client-id': 'forged',
  'x-gateway-edge': 'forged',
  x_user_id: 'github:666',
};

const probes: Probe[] = [
  ...[...table, ...spelled, ...services].map((target) => ({ target })),
  ...services.flatMap((target): Probe[] => [
    {
      method: 'POST',
      target,
      headers: { authorization: 'Bearer good', cookie: 'a=b', 'content-type': 'application/json', ...forged },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    },
    { method: 'DELETE', target, headers: { authorization: 'Bearer narrow', origin: 'http://localhost:6274' } },
    { method: 'POST', target, headers: { origin: 'http://evil.example', authorization: 'Bearer good' }, body: '{}' },
    {
      method: 'OPTIONS',
      target,
      headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST' },
    },
    // Not a preflight (no Access-Control-Request-Method): to the service, as having passed the edge.
    { method: 'OPTIONS', target, headers: { origin: 'http://localhost:6274', ...forged } },
    { method: 'OPTIONS', target, headers: { origin: '', 'access-control-request-method': 'POST' } },
  ]),
  ...['', 'Accept-Encoding', 'Origin', 'Accept, Origin'].map((vary) => ({
    target: `/echo/mcp?vary=${encodeURIComponent(vary)}`,
    headers: { authorization: 'Bearer good' },
  })),
  { target: '/authorize?vary=Accept', headers: { x_user_id: 'github:666', cookie: 'c=1' } },
];

test.each(probes.map((p) => [`${p.method ?? 'GET'} ${p.target} ${JSON.stringify(p.headers ?? {})}`, p]))(
  '%s: the same at both edges',
  async (_name, probe) => {
    const local = await send(localPort, probe);
    const viaCaddy = await send(caddyPort, probe);
    expect(viaCaddy).toEqual(local);
  },
);

test.each([
  ['/tok%65n', 'auth', '/token'],
  ['/register/%2e%2e/token?x=%2f', 'auth', '/token?x=%2f'],
  ['/authorize/%c3%a9%7e%41', 'auth', '/authorize/%C3%A9~A'],
  ['/interaction/%C3%A9/../x//y/./z/', 'auth', '/interaction/x/y/z/'],
  ['/x/../echo/mcp?y=1', 'service echo', '/mcp?y=1'],
  ['/echo/mcp/x/..', 'service echo', '/mcp/'],
  ['/mine/mcp/?q=1', 'service mine', '/other/place/?q=1'],
  ['/%76erify', undefined, 404],
  ['/Echo/mcp', undefined, 404],
  ['/a%2fb', undefined, 400],
] as const)('%s → %s %s', async (target, to, url) => {
  const res = await send(caddyPort, { target, headers: { authorization: 'Bearer good' } });
  if (to) expect(res.backend.map((b) => [b.to, b.url])).toEqual([[to, url]]);
  else expect([res.status, res.backend]).toEqual([url, []]);
});

test('the identity headers a service receives are /verify’s, never the client’s', async () => {
  const res = await send(caddyPort, {
    method: 'POST',
    target: '/echo/mcp',
    headers: { authorization: 'Bearer good', cookie: 'a=b', ...forged },
    body: '{}',
  });
  expect(res.status).toBe(200);
  const headers = res.backend[0]!.headers;
  expect(headers.authorization).toBeUndefined();
  expect(headers.cookie).toBeUndefined();
  expect(headers['x-user-login']).toBe('octocat');
  expect(headers['x-user-name']).toBe('');
  expect(headers['x-gateway-edge']).toBe(EDGE_SECRET);
  // A 2xx that names no identity (an OPTIONS that is not a preflight): none arrives.
  const options = await send(caddyPort, { method: 'OPTIONS', target: '/echo/mcp', headers: forged });
  expect(Object.keys(options.backend[0]!.headers).filter((h) => options.backend[0]!.headers[h] !== undefined)).toEqual(
    expect.not.arrayContaining([...IDENTITY_HEADERS]),
  );
  expect(options.backend[0]!.headers['x-gateway-edge']).toBe(EDGE_SECRET);
});

test('a raw # is refused at both edges; characters not allowed raw in a path differ (docs/edge.md)', async () => {
  // A fragment is not part of an HTTP request target (RFC 9112 §3.2).
  for (const target of ['/echo/mcp#x', '/token?a=1#x', '/authorize/abc#'])
    for (const port of [localPort, caddyPort])
      expect([port, target, (await send(port, { target })).status]).toEqual([port, target, 400]);
  // The same place, spelled as Go's URL parser re-encodes it.
  const sent = '/authorize/a"b{c}|d^e`f<g>h\\i';
  expect((await send(localPort, { target: sent })).backend.map((b) => b.url)).toEqual([sent]);
  expect((await send(caddyPort, { target: sent })).backend.map((b) => b.url)).toEqual([
    '/authorize/a%22b%7Bc%7D%7Cd%5Ee%60f%3Cg%3Eh%5Ci',
  ]);
});

test('a client that leaves an event stream: the service sees it go, at both edges', async () => {
  for (const port of [localPort, caddyPort]) {
    const before = streamsClosed;
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/echo/mcp?sse=1',
          headers: { host: 'mcp.example.com', authorization: 'Bearer good' },
        },
        (res) =>
          res.once('data', () => {
            req.destroy();
            resolve();
          }),
      );
      req.on('error', reject);
      req.end();
    });
    for (const deadline = Date.now() + 3000; streamsClosed === before && Date.now() < deadline;)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect([port, streamsClosed]).toEqual([port, before + 1]);
  }
});

test('a declared body over the limit is refused at Caddy (413), after the token; nothing is read', async () => {
  /** The status line Caddy answers to a request that declares 64 MiB and sends a few bytes. */
  const declared = (target: string, authorization = '') =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(caddyPort, '127.0.0.1', () =>
        socket.write(
          `POST ${target} HTTP/1.1\r\nHost: mcp.example.com\r\n${authorization}` +
            `Content-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n{"jsonrpc":"2.0"`,
        ),
      );
      let answer = '';
      socket.on('data', (d: Buffer) => {
        answer += d.toString();
        if (answer.includes('\r\n')) {
          resolve(answer.split('\r\n')[0]!);
          socket.destroy();
        }
      });
      socket.on('error', reject);
    });
  const before = seen.length;
  expect(await declared('/echo/mcp')).toBe('HTTP/1.1 401 Unauthorized');
  expect(await declared('/echo/mcp', 'Authorization: Bearer good\r\n')).toBe('HTTP/1.1 413 Request Entity Too Large');
  expect(await declared('/token')).toBe('HTTP/1.1 413 Request Entity Too Large');
  expect(seen.length).toBe(before);
});

test('/verify unreachable: 503 at Caddy, with CORS', async () => {
  const config = caddyConfig({
    listen: { host: '127.0.0.1', port: await freePort() },
    publicUrl: PUBLIC_URL,
    auth: { host: '127.0.0.1', port: await freePort() },
    services: upstreams,
    storageDir: join(dir, 'data2'),
  });
  const file = join(dir, 'down.json');
  writeFileSync(file, JSON.stringify(config));
  const port = Number(
    (
      (config.apps as Json).http as Json & { servers: { gateway: { listen: string[] } } }
    ).servers.gateway.listen[0]!.split(':')[1],
  );
  const down = spawn(CADDY, ['run', '--config', file], {
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  down.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    while (!log.includes('serving initial configuration')) await new Promise((resolve) => setTimeout(resolve, 20));
    const res = await send(port, { method: 'POST', target: '/echo/mcp', headers: { authorization: 'Bearer good' } });
    expect([res.status, JSON.parse(res.body), res.headers['access-control-allow-origin']]).toEqual([
      503,
      { error: 'temporarily_unavailable', error_description: 'authorization could not be checked' },
      '*',
    ]);
  } finally {
    down.kill('SIGTERM');
    await once(down, 'exit');
  }
});

test('server-sent events stream through Caddy: the first event arrives while the response is open', async () => {
  const first = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: caddyPort,
        path: '/echo/mcp?sse=1',
        headers: { host: 'mcp.example.com', authorization: 'Bearer good', accept: 'text/event-stream' },
      },
      (res) => {
        res.once('data', (d: Buffer) => {
          resolve(d.toString());
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => reject(new Error('no event within 5 s: buffered')));
    req.end();
  });
  expect(first).toContain('data: first');
});
