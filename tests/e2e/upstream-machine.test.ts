/**
 * Remote MCP servers with a machine token (`MCP_<S>_AUTH=client_credentials`), end to end through
 * the stack and its edge (local, or Caddy under GATEWAY_EDGE=caddy): the upstream stand-in's
 * authorization server issues the service's token (client_secret_post, by its explicit token
 * endpoint), its MCP server accepts it; and remote servers that fail: one that never answers
 * (504 after MCP_<S>_TIMEOUT) and one that cannot be reached (502), each a JSON-RPC error naming
 * the service, the user's grants kept.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { connectWithOAuth, postMcp, TestOAuthProvider } from '../support/mcp-client.ts';
import { Person } from '../support/person.ts';
import { freePort, startStack, type Stack } from '../support/stack.ts';
import {
  machineClient,
  machineSettings,
  startUpstreamStandin,
  type UpstreamStandin,
} from '../support/upstream-standin.ts';

let github: GitHubStandin;
let upstream: UpstreamStandin;
let stack: Stack;
let silent: Server;
let silentUrl: string;
let closedUrl: string;

beforeAll(async () => {
  // A server that takes requests and never answers them.
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`;
  closedUrl = `http://127.0.0.1:${await freePort()}/mcp`;
  [github, upstream] = await Promise.all([
    startGitHubStandin(),
    startUpstreamStandin({
      accessTokenTtl: 300,
      resources: [silentUrl, closedUrl],
      clients: [machineClient('client_secret_post')],
    }),
  ]);
  const machine = (name: string, url: string) => machineSettings(name, url, upstream, 'client_secret_post');
  stack = await startStack({
    github,
    env: {
      ...machine('MACHINE', upstream.mcpUrl),
      // This server is told who the user is (its own token says only the gateway).
      MCP_MACHINE_IDENTITY_HEADERS: 'true',
      ...machine('SILENT', silentUrl),
      ...machine('GONE', closedUrl),
    },
  });
}, 60_000);

afterAll(async () => {
  const code = await stack?.stop();
  silent?.closeAllConnections();
  await Promise.all([github?.stop(), upstream?.stop(), new Promise((resolve) => silent?.close(resolve))]);
  expect(code).toBe(0);
});

let client: Client;
let provider: TestOAuthProvider;

test('tools are called with the service machine token; the client holds only its own', async () => {
  ({ client, provider } = await connectWithOAuth(`${stack.url}/machine/mcp`, {
    person: new Person(stack.url, github),
  }));
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  const me = JSON.parse((result.content as { text: string }[])[0]!.text) as {
    sub: string | null;
    client_id: string;
    headers: Record<string, string>;
  };
  expect(me).toMatchObject({ sub: null, client_id: 'gateway-machine' });
  // MCP_MACHINE_IDENTITY_HEADERS=true: the identity headers, never the edge secret of our own services.
  expect(me.headers).toMatchObject({ 'x-user-login': 'octocat', 'x-user-provider': 'github' });
  expect(me.headers['x-gateway-edge']).toBeUndefined();
  expect(upstream.issued()).not.toContain(provider.saved!.access_token);
  // One machine token serves every call.
  const before = upstream.requests.filter((r) => r === 'POST /token').length;
  await Promise.all(Array.from({ length: 10 }, () => client.callTool({ name: 'echo', arguments: { message: 'x' } })));
  expect(upstream.requests.filter((r) => r === 'POST /token').length).toBe(before);
}, 30_000);

/** A gateway token for `service` (its own audience), then one tools/list to it: the raw answer. */
async function call(service: string): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  // The SDK's connect fails at the upstream after the authorization; its token is what is needed.
  const p = new TestOAuthProvider(`client of ${service}`);
  await connectWithOAuth(`${stack.url}/${service}/mcp`, { person: new Person(stack.url, github), provider: p }).then(
    ({ client: c }) => c.close(),
    () => undefined,
  );
  const started = Date.now();
  const res = await postMcp(`${stack.url}/${service}/mcp`, p.saved!.access_token);
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: Date.now() - started };
}

test.each([
  ['silent', 504, 'silent: the upstream MCP server did not answer within 2 s'],
  ['gone', 502, 'gone: the upstream MCP server could not be reached'],
])(
  '%s: %d with a JSON-RPC error naming the service',
  async (service, status, message) => {
    const answer = await call(service);
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
    if (status === 504) expect(answer.ms).toBeLessThan(10_000);
    // The user's grants are kept: the working service still answers the same client.
    const again = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
    expect(again.content).toEqual([{ type: 'text', text: 'still here' }]);
  },
  30_000,
);
