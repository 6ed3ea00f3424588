/**
 * Remote MCP servers behind the Traefik of the Compose stack: the routes scripts/compose.ts writes
 * from .env (scripts/deploy/remote-routes.ts, traefik/dynamic/remote-services.yml) executed by the
 * Traefik model (tests/support/traefik-proxy.ts) in front of a real auth service and the upstream
 * stand-in (oidc-provider and an SDK MCP server that introspects its tokens). It shows what the
 * local and Caddy edges show (tests/e2e/upstream*.test.ts) through Traefik's own parts:
 * ForwardAuth's Authorization replacing the client's, the errors middleware handing the server's
 * 401/502/504 to the auth service, the server's own path and Host.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { remoteRoutes, renderRemoteRoutes } from '../../scripts/deploy/remote-routes.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { authorizeInBrowser, launchBrowser, newPage, startCallbackServer } from '../support/browser.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { connectWithOAuth, postMcp, TestOAuthProvider } from '../support/mcp-client.ts';
import { Person } from '../support/person.ts';
import { freePort } from '../support/stack.ts';
import { startTraefikProxy, type TraefikProxy } from '../support/traefik-proxy.ts';
import {
  machineClient,
  machineSettings,
  startUpstreamStandin,
  type UpstreamStandin,
} from '../support/upstream-standin.ts';

const PERSON = 'traefik-bob';
let github: GitHubStandin;
let upstream: UpstreamStandin;
let auth: RunningAuth;
let traefik: TraefikProxy;
let silent: Server;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;

beforeAll(async () => {
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`;
  const goneUrl = `http://127.0.0.1:${await freePort()}/mcp`;
  [github, upstream, browser, callback] = await Promise.all([
    startGitHubStandin(),
    startUpstreamStandin({
      accessTokenTtl: 300,
      resources: [silentUrl, goneUrl],
      clients: [machineClient('client_secret_basic')],
    }),
    launchBrowser(),
    startCallbackServer(),
  ]);
  const machine = (name: string, url: string) => machineSettings(name, url, upstream, 'client_secret_basic');
  const env = {
    MCP_REMOTE_ENABLED: 'true',
    MCP_REMOTE_URL: upstream.mcpUrl,
    MCP_REMOTE_AUTH: 'user',
    ...machine('MACHINE', upstream.mcpUrl),
    ...machine('SILENT', silentUrl),
    ...machine('GONE', goneUrl),
  };
  // Traefik's public address is the PUBLIC_URL of the auth service behind it.
  const port = await freePort();
  auth = await startAuth({ github, env: { PUBLIC_URL: `http://127.0.0.1:${port}`, ...env } });
  const { routes, domain, problems } = remoteRoutes({ ...env, BASE_DOMAIN: '127.0.0.1' });
  expect(problems).toEqual([]);
  traefik = await startTraefikProxy({
    domain: '127.0.0.1',
    port,
    backends: { 'auth:8080': auth.url },
    dynamic: [{ name: 'remote-services.yml', text: renderRemoteRoutes(routes, domain) }],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await traefik?.stop();
  await auth?.stop();
  silent?.closeAllConnections();
  await Promise.all([github?.stop(), upstream?.stop(), callback?.stop(), new Promise((r) => silent?.close(r))]);
});

type Seen = { sub: string | null; client_id: string; headers: Record<string, string> };
async function whoami(client: Client): Promise<Seen> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  return JSON.parse((result.content as { text: string }[])[0]!.text) as Seen;
}

test('client credentials: the machine token reaches the server, nothing of the client or our edge does', async () => {
  const { client, provider } = await connectWithOAuth(`${traefik.url}/machine/mcp`, {
    person: new Person(traefik.url, github),
  });
  const me = await whoami(client);
  expect(me).toMatchObject({ sub: null, client_id: 'gateway-machine' });
  expect(Object.keys(me.headers).filter((h) => h.startsWith('x-user-') || h === 'x-gateway-edge')).toEqual([]);
  expect(me.headers.host).toBe(new URL(upstream.mcpUrl).host);
  expect(upstream.accepted).not.toContain(provider.saved!.access_token);
  await client.close();
}, 30_000);

test('a user: both screens through Traefik, then the upstream revoked becomes the gateway 401 and refresh is refused', async () => {
  const provider = new TestOAuthProvider('Traefik upstream client', callback.url);
  const url = new URL(`${traefik.url}/remote/mcp`);
  const first = new Client({ name: 'traefik-upstream', version: '1.0.0' });
  await expect(first.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))).rejects.toThrow();
  const page = await newPage(browser);
  const pages: string[] = [];
  const back = await authorizeInBrowser(page, provider.authorizationUrl!.href, {
    login: 'octocat',
    consent: 'allow',
    upstreamLogin: PERSON,
    onPage: (kind) => pages.push(kind),
  });
  await page.context().close();
  expect(pages).toEqual(['login', 'github', 'consent', 'upstream-login', 'upstream-consent']);
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(back.searchParams.get('code')!);
  const client = new Client({ name: 'traefik-upstream', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  expect((await whoami(client)).sub).toBe(PERSON);
  await client.close();

  // Revoked at the upstream: Traefik's errors middleware hands the server's 401 to the auth service.
  upstream.revokeUser(PERSON);
  const answer = await postMcp(url, provider.saved!.access_token);
  expect(answer.status).toBe(401);
  expect(answer.headers.get('www-authenticate')).toContain(
    `resource_metadata="${traefik.url}/.well-known/oauth-protected-resource/remote/mcp"`,
  );
  expect(await answer.json()).toMatchObject({ error: 'invalid_token' });
  // The client's refresh is refused, its grant kept: it authorizes again, repeating the upstream step.
  const refresh = await fetch(`${traefik.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: provider.saved!.refresh_token!,
      client_id: String(provider.info!.client_id),
    }),
  });
  expect(refresh.status).toBe(400);
  expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });

  // What an operator sees of it (/metrics, internal: the auth service's own port).
  const metrics = await (await fetch(`${auth.url}/metrics`)).text();
  expect(metrics).toContain('upstream_token_acquisitions_total{service="remote"} 1');
  expect(metrics).toMatch(/upstream_failures_total\{service="remote",reason="upstream_401"\} [1-9]/);
  expect(metrics).toContain('upstream_token_acquisitions_total{service="machine"} 1');
}, 60_000);

test.each([
  ['silent', 504, 'silent: the upstream MCP server did not answer within 2 s'],
  ['gone', 502, 'gone: the upstream MCP server could not be reached'],
])(
  '%s: %d, a JSON-RPC error naming the service',
  async (service, status, message) => {
    const provider = new TestOAuthProvider(`client of ${service}`);
    await connectWithOAuth(`${traefik.url}/${service}/mcp`, { person: new Person(traefik.url, github), provider }).then(
      ({ client }) => client.close(),
      () => undefined,
    );
    const res = await postMcp(`${traefik.url}/${service}/mcp`, provider.saved!.access_token);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
  },
  30_000,
);

test("the gateway's Client ID Metadata Document for a user service, served through Traefik; none for a machine one", async () => {
  const res = await fetch(`${traefik.url}/.well-known/oauth-client/remote`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({
    client_id: `${traefik.url}/.well-known/oauth-client/remote`,
    redirect_uris: [`${traefik.url}/upstream/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    application_type: 'web',
  });
  expect((await fetch(`${traefik.url}/.well-known/oauth-client/machine`)).status).toBe(404);
});

test('the auth service answers for servers at internal paths only', async () => {
  expect((await fetch(`${traefik.url}/verify/upstream/remote/401`)).status).toBe(404);
});
