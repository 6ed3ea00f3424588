/**
 * Finding an upstream's authorization (auth/src/upstream/discovery.ts) as the MCP authorization
 * spec says, against real HTTP on loopback: stand-ins laid out each way the spec allows, and this
 * gateway's own authorization server as a real upstream.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { challengeParams, discoverUpstream, UpstreamDiscoveryError } from '../../auth/src/upstream/discovery.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';

type Route = { status: number; body?: unknown; headers?: Record<string, string> };

/** A server answering `routes` (path → answer), 404 elsewhere; `base` known once it listens. */
async function standIn(
  make: (base: string) => Record<string, Route>,
): Promise<{ base: string; seen: string[]; server: Server }> {
  const seen: string[] = [];
  let routes: Record<string, Route> = {};
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const route = routes[req.url ?? ''] ?? { status: 404, body: { error: 'not_found' } };
    res.writeHead(route.status, { 'content-type': 'application/json', ...route.headers });
    res.end(route.body === undefined ? '' : JSON.stringify(route.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes = make(base);
  return { base, seen, server };
}
const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
async function upstream(make: (base: string) => Record<string, Route>) {
  const s = await standIn(make);
  servers.push(s.server);
  return s;
}

const asMetadata = (issuer: string, extra: Record<string, unknown> = {}) => ({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  registration_endpoint: `${issuer}/register`,
  code_challenge_methods_supported: ['S256'],
  ...extra,
});

test('the 401 challenge names the PRM; its authorization server metadata follows', async () => {
  const { base, seen } = await upstream((b) => ({
    '/mcp': {
      status: 401,
      headers: { 'www-authenticate': `Bearer resource_metadata="${b}/meta/prm", scope="tools:read"` },
    },
    '/meta/prm': { status: 200, body: { resource: `${b}/mcp`, authorization_servers: [`${b}/as`] } },
    '/.well-known/oauth-authorization-server/as': {
      status: 200,
      body: asMetadata(`${b}/as`, { client_id_metadata_document_supported: true }),
    },
  }));
  const found = await discoverUpstream(`${base}/mcp`);
  expect(found).toMatchObject({
    resource: `${base}/mcp`,
    issuer: `${base}/as`,
    tokenEndpoint: `${base}/as/token`,
    clientIdMetadataDocumentSupported: true,
    scope: 'tools:read',
    via: 'prm',
  });
  expect(seen).toEqual(['POST /mcp', 'GET /meta/prm', 'GET /.well-known/oauth-authorization-server/as']);
});

test('no challenge: the path-suffixed PRM; an issuer with a path found by OpenID path insertion, then appending', async () => {
  const { base, seen } = await upstream((b) => ({
    '/.well-known/oauth-protected-resource/v1/mcp': {
      status: 200,
      body: { resource: `${b}/v1/mcp/`, authorization_servers: [`${b}/tenant`], scopes_supported: ['a', 'b'] },
    },
    '/tenant/.well-known/openid-configuration': { status: 200, body: asMetadata(`${b}/tenant`) },
  }));
  const found = await discoverUpstream(`${base}/v1/mcp`);
  expect(found).toMatchObject({ issuer: `${base}/tenant`, scope: 'a b', via: 'prm' });
  expect(seen).toEqual([
    'POST /v1/mcp',
    'GET /.well-known/oauth-protected-resource/v1/mcp',
    'GET /.well-known/oauth-authorization-server/tenant',
    'GET /.well-known/openid-configuration/tenant',
    'GET /tenant/.well-known/openid-configuration',
  ]);
});

test('a PRM for another resource is refused (RFC 9728 §3.3)', async () => {
  const { base } = await upstream(() => ({
    '/.well-known/oauth-protected-resource/mcp': {
      status: 200,
      body: { resource: 'https://elsewhere.example/mcp', authorization_servers: ['https://as.example'] },
    },
  }));
  await expect(discoverUpstream(`${base}/mcp`)).rejects.toMatchObject({ reason: 'resource_mismatch' });
});

test('metadata whose issuer is not the one asked for is refused (RFC 8414 §3.3)', async () => {
  const { base } = await upstream((b) => ({
    '/.well-known/oauth-protected-resource/mcp': {
      status: 200,
      body: { resource: `${b}/mcp`, authorization_servers: [b] },
    },
    '/.well-known/oauth-authorization-server': { status: 200, body: asMetadata('https://evil.example') },
  }));
  const err = await discoverUpstream(`${base}/mcp`).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamDiscoveryError);
  expect(err).toMatchObject({ reason: 'issuer_mismatch' });
});

test('2025-03-26: no PRM, the origin is the authorization server; without metadata, the default endpoints', async () => {
  const withMetadata = await upstream((b) => ({
    '/.well-known/oauth-authorization-server': { status: 200, body: asMetadata(b) },
  }));
  expect(await discoverUpstream(`${withMetadata.base}/mcp`)).toMatchObject({
    issuer: withMetadata.base,
    via: 'legacy',
    resource: `${withMetadata.base}/mcp`,
  });
  const bare = await upstream(() => ({}));
  expect(await discoverUpstream(`${bare.base}/mcp`)).toMatchObject({
    authorizationEndpoint: `${bare.base}/authorize`,
    tokenEndpoint: `${bare.base}/token`,
    registrationEndpoint: `${bare.base}/register`,
    via: 'legacy',
  });
});

test('http to a host other than loopback is refused before any request', async () => {
  await expect(discoverUpstream('http://mcp.example.com/mcp')).rejects.toMatchObject({ reason: 'insecure' });
});

test('an unreachable server: unreachable', async () => {
  const { base, server } = await standIn(() => ({}));
  await new Promise((r) => server.close(r));
  await expect(discoverUpstream(`${base}/mcp`)).rejects.toMatchObject({ reason: 'unreachable' });
});

describe('this gateway as the upstream (its PRM and its oidc-provider metadata)', () => {
  let gw: RunningAuth;
  beforeAll(async () => {
    gw = await startAuth({ localPassword: 'pw' });
  });
  afterAll(() => gw.stop());

  test('found through the path-suffixed PRM, with DCR, CIMD and S256', async () => {
    const found = await discoverUpstream(`${gw.url}/echo/mcp`);
    expect(found).toMatchObject({
      resource: `${gw.url}/echo/mcp`,
      issuer: gw.url,
      tokenEndpoint: `${gw.url}/token`,
      registrationEndpoint: `${gw.url}/register`,
      clientIdMetadataDocumentSupported: true,
      codeChallengeMethods: ['S256'],
      scope: 'mcp',
      via: 'prm',
    });
  });
});

test('challenge parameters: quoted and token values, escapes, other schemes ignored', () => {
  expect(challengeParams('Bearer realm="x", error=invalid_token, scope="a \\"b\\""')).toEqual({
    realm: 'x',
    error: 'invalid_token',
    scope: 'a "b"',
  });
  expect(challengeParams('Basic realm="x"')).toEqual({});
  expect(challengeParams(null)).toEqual({});
});
