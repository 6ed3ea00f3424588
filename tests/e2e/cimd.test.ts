/**
 * Client ID Metadata Documents end to end: the document is served by this test over real HTTPS
 * (a throwaway CA made with openssl, trusted by the gateway process through NODE_EXTRA_CA_CERTS),
 * the gateway runs as `npm start` runs it, and a full authorization-code flow with the document's
 * URL as client_id ends in a token that echo-stateful accepts. Refusals: the same document on a
 * gateway that does not allow private hosts (the document is on loopback), and a document whose
 * client_id is not its own URL.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import { makeCertificates } from '../support/certificates.ts';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { freePort, startStack, type Stack } from '../support/stack.ts';
import { runFlow } from '../support/flow.ts';
import { authorizeUrl, decodeJwt, pkce } from '../support/oauth.ts';

let dir: string;
let server: Server;
let clientId: string;
let mismatchId: string;
/** The same document under this machine's own name, which resolves (/etc/hosts) to a private address. */
let byHostnameId: string;
let port: number;
let redirectUri: string;
let github: GitHubStandin;
let stack: Stack;
const served: string[] = [];

const document = (id: string) => ({
  client_id: id,
  client_name: 'CIMD end-to-end client',
  redirect_uris: [redirectUri],
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
});

const stackEnv = (allowPrivate: boolean): Record<string, string> => ({
  NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
  MCP_ECHO_STATEFUL_ENABLED: 'true',
  ...(allowPrivate && { DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS: 'true' }),
});

/** GET /authorize for a URL client id, not following redirects. */
async function authorizeWith(base: string, id: string) {
  const { challenge } = pkce();
  const url = authorizeUrl(base, {
    response_type: 'code',
    client_id: id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st4te',
    resource: `${base}/echo-stateful/mcp`,
    scope: 'mcp',
  });
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cimd-e2e-'));
  makeCertificates(dir);
  redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
  server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  const origin = `https://localhost:${port}`;
  clientId = `${origin}/client.json`;
  mismatchId = `${origin}/mismatch.json`;
  byHostnameId = `https://${hostname()}:${port}/client.json`;
  server.on('request', (req, res) => {
    served.push(req.url ?? '');
    const body =
      req.url === '/client.json'
        ? document(req.headers.host === `${hostname()}:${port}` ? byHostnameId : clientId)
        : req.url === '/mismatch.json'
          ? // A document that claims to be another client.
            document(clientId)
          : undefined;
    if (!body) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' });
    res.end(JSON.stringify(body));
  });
  github = await startGitHubStandin();
  stack = await startStack({ github, env: stackEnv(true) });
});

afterAll(async () => {
  await stack?.stop();
  await github?.stop();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the test CA is not trusted by this process: only NODE_EXTRA_CA_CERTS lets the gateway in', async () => {
  await expect(fetch(clientId)).rejects.toThrow();
});

test('an https URL client id, fetched over real TLS: full flow, and the token calls echo-stateful', async () => {
  const base = stack.url;
  const resource = `${base}/echo-stateful/mcp`;
  const r = await runFlow({
    base,
    github,
    client: { client_id: clientId, redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' },
    params: { resource },
  });
  expect(served).toContain('/client.json');
  expect(r.redirect.origin + r.redirect.pathname).toBe(redirectUri);
  expect(r.token?.status).toBe(200);
  const accessToken = r.token!.body.access_token!;
  expect(r.token!.body.refresh_token).toBeTruthy();
  const claims = decodeJwt(accessToken).payload;
  expect(claims.client_id).toBe(clientId);
  expect(claims.aud).toBe(resource);

  const client = new Client({ name: 'cimd-e2e', version: '0.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    requestInit: { headers: { Authorization: `Bearer ${accessToken}` } },
  });
  await client.connect(transport);
  try {
    const result = (await client.callTool({ name: 'whoami', arguments: {} })) as {
      content: { type: string; text: string }[];
    };
    const { identity } = JSON.parse(result.content[0]!.text) as { identity: Record<string, string> };
    expect(identity.login).toBe('octocat');
    expect(identity.clientId).toBe(clientId);
  } finally {
    await client.close();
  }
});

test('a document whose client_id is not its own URL is refused: no redirect to the client', async () => {
  const before = served.filter((u) => u === '/mismatch.json').length;
  const r = await authorizeWith(stack.url, mismatchId);
  // Fetched (a refused document is not cached, so the gateway may look more than once).
  expect(served.filter((u) => u === '/mismatch.json').length).toBeGreaterThan(before);
  expect(r.status).toBe(400);
  expect(r.location).toBeNull();
  expect(r.body).toContain('invalid_client_metadata');
  expect(r.body).toContain('client_id metadata document');
});

test('without DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS the loopback document is never fetched: invalid_client', async () => {
  const strict = await startStack({ github, env: stackEnv(false) });
  try {
    const before = served.length;
    const r = await authorizeWith(strict.url, clientId);
    expect(r.status).toBe(400);
    expect(r.location).toBeNull();
    expect(r.body).toMatch(/invalid_client(?!_)/);
    expect(served.length).toBe(before);
  } finally {
    await strict.stop();
  }
});

describe('server-side request forgery: documents on private addresses', () => {
  test('a private address by name or as a literal is refused before any connection', async () => {
    const strict = await startStack({ github, env: { ...stackEnv(false), CLIENT_METADATA_ALLOWED_HOSTS: '*' } });
    try {
      const before = served.length;
      for (const id of [`https://0.0.0.0:${port}/client.json`, `https://[::ffff:7f00:1]:${port}/client.json`]) {
        const r = await authorizeWith(strict.url, id);
        expect({ id, status: r.status, location: r.location }).toEqual({ id, status: 400, location: null });
        expect(r.body).toMatch(/invalid_client(?!_)/);
      }
      expect(served.length).toBe(before);
    } finally {
      await strict.stop();
    }
  });

  test('a public-looking name that resolves to a private address: the connection is cut, nothing is served', async () => {
    // The precondition that makes this test mean something: this machine's name is not a
    // private-looking name, yet it resolves to a loopback or private address.
    const { address } = await lookup(hostname());
    expect(address).toMatch(/^(127\.|10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.|::1$|f[cd])/);
    // With the dangerous switch, the document is fetched and the flow starts: this name works.
    const before = served.length;
    const open = await authorizeWith(stack.url, byHostnameId);
    expect(open.status).toBe(303);
    expect(served.length).toBe(before + 1);

    const strict = await startStack({ github, env: { ...stackEnv(false), CLIENT_METADATA_ALLOWED_HOSTS: hostname() } });
    try {
      const r = await authorizeWith(strict.url, byHostnameId);
      expect(r.status).toBe(400);
      expect(r.location).toBeNull();
      expect(r.body).toMatch(/invalid_client/);
      expect(served.length).toBe(before + 1);
    } finally {
      await strict.stop();
    }
  });
});
