/**
 * MCP 2026-07-28 clients at the stdio proxy (mcp-services/proxy/src/modern.ts): a client pinned to
 * 2026-07-28 (the official SDK v2 client: server/discover, no initialize, no session) uses a stdio
 * server of today. Each user's requests go to that user's one initialized child, never another's;
 * progress during a call reaches the client; an idle child ends; 2025 clients keep their sessions.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { alive, connect, startTestProxy, textOf, waitFor, type TestProxy } from './fixtures/harness.ts';
import { modernRequest } from '../support/modern-request.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy({ idleTimeoutMs: 1500 });
});
afterAll(() => proxy.close());

async function modern(user: string): Promise<ModernClient> {
  const client = new ModernClient(
    { name: 'modern-proxy-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(
    new ModernTransport(new URL(proxy.url), {
      requestInit: { headers: { 'x-user-id': user, 'x-user-login': user.replace(/^\w+:/, 'login-') } },
    }),
  );
  return client;
}

type Who = { pid: number; env: Record<string, string> };
const who = async (client: ModernClient): Promise<Who> =>
  JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))) as Who;

test('discovery and tools from the stdio server; each user has one child of their own, reused', async () => {
  const alice = await modern('github:11');
  expect(alice.getServerCapabilities()?.tools).toBeDefined();
  const { tools } = await alice.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'whoami']));
  expect(textOf(await alice.callTool({ name: 'echo', arguments: { message: 'modern' } }))).toBe('modern');

  const first = await who(alice);
  expect(first.env.MCP_USER_ID).toBe('github:11');
  // Stateless requests of the same user: the same initialized child.
  const again = await modern('github:11');
  expect((await who(again)).pid).toBe(first.pid);
  // Another user: another child, with their identity.
  const bob = await modern('github:12');
  const theirs = await who(bob);
  expect(theirs.pid).not.toBe(first.pid);
  expect(theirs.env.MCP_USER_ID).toBe('github:12');
  for (const c of [alice, again, bob]) await c.close();
});

test('progress notifications during a call reach the modern client', async () => {
  const client = await modern('github:13');
  const seen: number[] = [];
  const result = await client.callTool(
    { name: 'progress', arguments: { steps: 3 } },
    { onprogress: (p: { progress: number }) => seen.push(p.progress) },
  );
  expect(textOf(result)).toBe('done in 3 steps');
  expect(seen).toEqual([1, 2, 3]);
  await client.close();
});

test('an idle child ends; the next request starts a new one', async () => {
  const client = await modern('github:14');
  const { pid } = await who(client);
  await waitFor(() => !alive(pid), 5000);
  expect((await who(client)).pid).not.toBe(pid);
  await client.close();
});

test('a 2025 client keeps its session beside them', async () => {
  const { client, transport } = await connect(proxy.url, 'github:11');
  expect(transport.sessionId).toBeDefined();
  expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'legacy' } }))).toBe('legacy');
  await client.close();
});

const discover = (url: string, user: string) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'server/discover',
      'x-user-id': user,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'server/discover',
      params: {
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  });

test('a server that cannot start: 502 with a JSON-RPC error saying so; too many users: 503', async () => {
  const broken = await startTestProxy({ command: ['node', '-e', 'process.exit(3)'] });
  try {
    const res = await discover(broken.url, 'github:21');
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { message: string }; id: number };
    expect(body.id).toBe(1);
    expect(body.error.message).toMatch(/^The MCP server could not be started/);
  } finally {
    await broken.close();
  }
  const small = await startTestProxy({ maxSessions: 1 });
  try {
    expect((await discover(small.url, 'github:22')).status).toBe(200);
    const full = await discover(small.url, 'github:23');
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('30');
  } finally {
    await small.close();
  }
});

test("MCP_PROXY_MODERN_CHILDREN: a user's requests spread over that many children when one is busy", async () => {
  const wide = await startTestProxy({ modernChildrenPerUser: 2 });
  try {
    const client = new ModernClient(
      { name: 'modern-proxy-test', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new ModernTransport(new URL(wide.url), { requestInit: { headers: { 'x-user-id': 'github:31' } } }),
    );
    const first = await who(client);
    // While the first child is busy with a long call, the user's next request goes to a second one.
    const busy = client.callTool({ name: 'progress', arguments: { steps: 15 } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const second = await who(client);
    expect(second.pid).not.toBe(first.pid);
    expect(second.env.MCP_USER_ID).toBe('github:31');
    await busy;
    // No third child: an idle one of the two serves.
    expect([first.pid, second.pid]).toContain((await who(client)).pid);
    await client.close();
  } finally {
    await wide.close();
  }
});

test('concurrent first requests of a user start no more children than allowed', async () => {
  const clients = await Promise.all(Array.from({ length: 5 }, () => modern('github:41')));
  const pids = await Promise.all(clients.map(async (c) => (await who(c)).pid));
  // MCP_PROXY_MODERN_CHILDREN is 1 in these tests: one child served them all.
  expect(new Set(pids).size).toBe(1);
  for (const c of clients) await c.close();
});

test('an unknown protocol version: -32022 with the versions supported (MCP 2026-07-28, "Version Negotiation")', async () => {
  const res = await fetch(
    proxy.url,
    modernRequest('tools/list', {}, { id: 8, version: '2099-01-01', headers: { 'x-user-id': 'github:15' } }),
  );
  const body = (await res.json()) as { id: number; error: { code: number; data: { supported: string[] } } };
  expect(body).toMatchObject({ id: 8, error: { code: -32022 } });
  expect(body.error.data.supported).toContain('2026-07-28');
});
