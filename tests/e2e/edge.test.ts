/**
 * Black box, through `npm start`'s process: an MCP SDK client completes OAuth (GitHub stand-in)
 * and calls tools on echo services behind the in-process edge. The service sees the identity
 * headers, never the token, never what the client forged; a token for one service is refused
 * by another; bad origins and internal paths are refused.
 */
import { routeDisagreements, routedRequests } from '../support/route-check.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, startStack, type Stack } from '../support/stack.ts';
import { Person } from '../support/person.ts';
import { connectWithOAuth } from '../support/mcp-client.ts';

let github: GitHubStandin;
let stack: Stack;
let external: ChildProcess;
let externalPort: number;

beforeAll(async () => {
  github = await startGitHubStandin();
  // An operator's own HTTP MCP server, already running: reached by MCP_<S>_URL.
  externalPort = await freePort();
  external = spawn(process.execPath, ['mcp-services/echo-stateless/src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(externalPort), HOST: '127.0.0.1' },
    stdio: 'ignore',
  });
  stack = await startStack({
    github,
    env: {
      MCP_ECHO_STATELESS_ENABLED: 'true',
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      MCP_MINE_ENABLED: 'true',
      MCP_MINE_URL: `http://127.0.0.1:${externalPort}/mcp`,
    },
  });
});
afterAll(async () => {
  const pids = stack
    .logs()
    .filter((l) => l.msg === 'MCP service started')
    .map((l) => l.pid as number);
  expect(pids).toHaveLength(2);
  expect(await stack?.stop()).toBe(0);
  // Ctrl-C (SIGTERM here) stops every service process with the gateway.
  for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  await github?.stop();
  external.kill();
});

interface WhoAmI {
  identity: Record<string, string>;
  headers: Record<string, string>;
  sessionCalls?: number;
}

async function whoami(client: Awaited<ReturnType<typeof connectWithOAuth>>['client']): Promise<WhoAmI> {
  const result = (await client.callTool({ name: 'whoami', arguments: {} })) as {
    content: { type: string; text: string }[];
  };
  return JSON.parse(result.content[0]!.text) as WhoAmI;
}

test('OAuth through the edge, then tools; the service sees who, never the token or forgeries', async () => {
  const person = new Person(stack.url, github);
  const { client, provider } = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, {
    person,
    headers: { 'X-User-Id': 'github:666', 'X-User-Login': 'mallory', 'X-Client-Id': 'forged' },
  });
  expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent']);

  const echoed = (await client.callTool({ name: 'echo', arguments: { message: 'héllo' } })) as {
    content: { text: string }[];
  };
  expect(echoed.content[0]!.text).toBe('héllo');

  const seen = await whoami(client);
  expect(seen.identity).toEqual({
    id: 'github:1001',
    login: 'octocat',
    name: 'The Octocat',
    email: 'octocat@example.com',
    provider: 'github',
    groups: [],
    clientId: provider.info!.client_id,
  });
  expect(seen.headers.authorization).toBeUndefined();
  expect(JSON.stringify(seen.headers)).not.toContain(provider.saved!.access_token);
  expect(JSON.stringify(seen.headers)).not.toContain('mallory');
  expect(JSON.stringify(seen.headers)).not.toContain('forged');
  // A stateful session through the edge: the service kept count.
  expect(seen.sessionCalls).toBe(2);
  expect(seen.headers['mcp-session-id']).toBeTruthy();
  await client.close();

  // The same token at another service: refused with that service's challenge.
  const res = await fetch(`${stack.url}/echo-stateless/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${provider.saved!.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toContain('/.well-known/oauth-protected-resource/echo-stateless/mcp');
  expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
});

test('a second service with the same browser: consent again (new service), no login; tools work', async () => {
  const person = new Person(stack.url, github);
  const first = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, { person });
  await first.client.close();
  const { client } = await connectWithOAuth(`${stack.url}/echo-stateless/mcp`, { person });
  expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent', 'consent']);
  const seen = await whoami(client);
  expect(seen.identity.login).toBe('octocat');
  expect(seen.headers['mcp-session-id']).toBeUndefined();
  await client.close();
});

test('request headers over 16 KiB get 431 and bodies over the limit 413, spec-shaped, each limit logged once', async () => {
  const big = { 'x-big': 'z'.repeat(20 * 1024) };
  for (let i = 0; i < 3; i++) {
    for (const path of ['/token', '/echo-stateful/mcp']) {
      const res = await fetch(`${stack.url}${path}`, { method: 'POST', headers: big, body: 'a=b' });
      expect(res.status).toBe(431);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const res = await fetch(`${stack.url}/token`, { method: 'POST', headers: form, body: 'a='.padEnd(60 * 1024, 'b') });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  }
  const lines = (limit: string) => stack.logs().filter((l) => l.msg === `limit reached: ${limit}`);
  expect(lines('request header size')).toHaveLength(1);
  expect(lines('request body size')).toHaveLength(1);
  expect((await fetch(`${stack.url}/.well-known/oauth-authorization-server`)).status).toBe(200);
});

test('internal paths are not reachable through the edge', async () => {
  for (const path of ['/verify', '/metrics', '/verify?x=1']) {
    const res = await fetch(`${stack.url}${path}`, { headers: { 'x-forwarded-uri': '/echo-stateful/mcp' } });
    expect(res.status).toBe(404);
  }
});

test('a foreign Origin is refused (DNS rebinding); our own and loopback origins pass to the decision', async () => {
  const post = (origin: string) =>
    fetch(`${stack.url}/echo-stateful/mcp`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: '{}',
    });
  expect((await post('http://evil.example')).status).toBe(403);
  const own = await post(stack.url);
  expect(own.status).toBe(401);
  // Any origin may read answers (no credentials, edge/chain.ts); the Origin policy decides who may call.
  expect(own.headers.get('access-control-allow-origin')).toBe('*');
  expect(own.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');
  expect((await post('http://localhost:6274')).status).toBe(401);
});

test('CORS preflight needs no token', async () => {
  const res = await fetch(`${stack.url}/echo-stateful/mcp`, {
    method: 'OPTIONS',
    headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST' },
  });
  // As Traefik's headers middleware answers a preflight: 200, no body.
  expect(res.status).toBe(200);
  expect(res.headers.get('access-control-allow-headers')).toContain('Mcp-Session-Id');
});

test('the discovery documents are served through the edge', async () => {
  const prm = (await (await fetch(`${stack.url}/.well-known/oauth-protected-resource/echo-stateful/mcp`)).json()) as {
    resource: string;
  };
  expect(prm.resource).toBe(`${stack.url}/echo-stateful/mcp`);
  expect((await fetch(`${stack.url}/.well-known/oauth-authorization-server`)).status).toBe(200);
});

test('responses stream through the edge: a progress notification arrives while its call is still running', async () => {
  const { client } = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, {
    person: new Person(stack.url, github),
  });
  const notified: string[] = [];
  let opened: Promise<unknown> | undefined;
  // The call only finishes once the gate is opened, and the gate is only opened when its
  // progress notification has reached the client: a buffering hop would hang here.
  const result = (await client.callTool({ name: 'gate', arguments: { name: 'g1' } }, undefined, {
    onprogress: (p) => {
      notified.push(String(p.message));
      opened ??= client.callTool({ name: 'open_gate', arguments: { name: 'g1' } });
    },
    timeout: 20_000,
  })) as { content: { text: string }[] };
  expect(notified).toEqual(['waiting at gate g1']);
  expect(result.content[0]!.text).toBe('gate g1 passed');
  expect(((await opened) as { content: { text: string }[] }).content[0]!.text).toBe('opened');
  await client.close();
});

test("an operator's own HTTP MCP server by MCP_<SERVICE>_URL, behind the same decision", async () => {
  const { client } = await connectWithOAuth(`${stack.url}/mine/mcp`, { person: new Person(stack.url, github) });
  const seen = await whoami(client);
  expect(seen.identity.id).toBe('github:1001');
  expect(seen.headers.authorization).toBeUndefined();
  await client.close();
  expect((await fetch(`${stack.url}/mine/mcp`, { method: 'POST' })).status).toBe(401);
});

test('the paths of a sign-in are recorded as routed, and each reaches the same place behind Traefik', () => {
  const paths = routedRequests(stack.logs()).map((r) => `${r.route} ${r.path}`);
  if (stack.edge === 'caddy') return expect(paths).toEqual([]); // Caddy routes; the local edge logs
  // What the OAuth flow and the tools above asked for, as the local edge routed it.
  for (const expected of [
    /^auth \/\.well-known\/oauth-protected-resource\/echo-stateful\/mcp$/,
    /^auth \/register$/,
    /^auth \/authorize$/,
    /^auth \/interaction\/[\w-]+$/,
    /^auth \/callback\/github$/,
    /^auth \/authorize\/[\w-]+$/, // oidc-provider's resume after login and consent
    /^auth \/token$/,
    /^service \/echo-stateful\/mcp$/,
    /^internal \/verify$/,
  ]) {
    expect(paths.some((p) => expected.test(p))).toBe(true);
  }
  expect(routeDisagreements(routedRequests(stack.logs()))).toEqual([]);
});
