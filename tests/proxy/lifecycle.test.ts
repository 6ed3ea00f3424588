/**
 * How sessions end and what the proxy refuses: a crashing server, request and idle timeouts,
 * session and message limits, a server that will not start or will not stop, and shutdown.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import {
  alive,
  connect,
  FIXTURE,
  INITIALIZE,
  post,
  rawSession,
  REPO_ROOT,
  errorOf,
  startTestProxy,
  textOf,
  waitFor,
  whoami,
  type TestProxy,
} from './fixtures/harness.ts';

const proxies: TestProxy[] = [];
async function proxyWith(...args: Parameters<typeof startTestProxy>): Promise<TestProxy> {
  const proxy = await startTestProxy(...args);
  proxies.push(proxy);
  return proxy;
}
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

const listTools = (url: string, sessionId: string) =>
  post(
    url,
    { jsonrpc: '2.0', id: 2, method: 'tools/list' },
    { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
  );

test('a server that crashes mid-request: the pending request gets a JSON-RPC error, other sessions go on', async () => {
  const proxy = await proxyWith();
  const victim = await connect(proxy.url, 'github:1');
  const bystander = await connect(proxy.url, 'github:2');
  const { pid } = await whoami(victim.client);
  const sessionId = victim.transport.sessionId!;
  await expect(victim.client.callTool({ name: 'crash', arguments: {} })).rejects.toMatchObject({
    code: ErrorCode.ConnectionClosed,
    message: expect.stringMatching(/process exited \(code 3\)/),
  });
  expect(alive(pid)).toBe(false);
  expect((await listTools(proxy.url, sessionId)).status).toBe(404);
  expect(textOf(await bystander.client.callTool({ name: 'echo', arguments: { message: 'fine' } }))).toBe('fine');
  expect(proxy.logs.some((l) => l.msg === 'MCP server ended the session')).toBe(true);
  await victim.client.close();
  await bystander.client.close();
});

test('a request the server does not answer in time gets -32001; the session stays usable', async () => {
  // (initialize is a request too: the timeout leaves the server time to start)
  const proxy = await proxyWith({ requestTimeoutMs: 3000 });
  const { client } = await connect(proxy.url);
  const started = Date.now();
  await expect(client.callTool({ name: 'hang', arguments: {} })).rejects.toMatchObject({
    code: ErrorCode.RequestTimeout,
    message: expect.stringMatching(/did not answer in 3 s/),
  });
  expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
  expect(Date.now() - started).toBeLessThan(8000);
  expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'again' } }))).toBe('again');
  await client.close();
});

test('an idle session expires: its server is stopped and its id gets 404', async () => {
  const proxy = await proxyWith({ idleTimeoutMs: 1000 });
  const { client, transport } = await connect(proxy.url);
  const { pid } = await whoami(client);
  const sessionId = transport.sessionId!;
  await waitFor(() => !alive(pid), 5000);
  expect((await listTools(proxy.url, sessionId)).status).toBe(404);
  expect(proxy.sessions.size).toBe(0);
  await client.close();
});

test('activity keeps a session alive past the idle timeout', async () => {
  // 3.2 s of calls 400 ms apart, past a 2 s idle timeout (a call may take 1.6 s on a busy machine).
  const proxy = await proxyWith({ idleTimeoutMs: 2000 });
  const { client } = await connect(proxy.url);
  for (let i = 0; i < 8; i++) {
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: `${i}` } }))).toBe(`${i}`);
  }
  await client.close();
});

test('too many sessions for one user: 429 with a JSON-RPC error; other users still get in', async () => {
  const proxy = await proxyWith({ maxSessionsPerUser: 2 });
  await rawSession(proxy.url);
  await rawSession(proxy.url);
  const refused = await post(proxy.url, INITIALIZE);
  expect(refused.status).toBe(429);
  expect(await refused.json()).toEqual({
    jsonrpc: '2.0',
    id: 1,
    error: { code: -32000, message: expect.stringMatching(/each user may have 2/) },
  });
  expect(await rawSession(proxy.url, { 'x-user-id': 'github:2' })).toBeTruthy();
});

test('too many sessions in all: 503 with Retry-After; a DELETE frees a slot', async () => {
  const proxy = await proxyWith({ maxSessions: 2 });
  const first = await rawSession(proxy.url, { 'x-user-id': 'github:1' });
  await rawSession(proxy.url, { 'x-user-id': 'github:2' });
  const refused = await post(proxy.url, INITIALIZE, { 'x-user-id': 'github:3' });
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('30');
  expect((await errorOf(refused)).message).toMatch(/allows 2 at a time/);
  const del = await fetch(proxy.url, {
    method: 'DELETE',
    headers: { 'mcp-session-id': first, 'x-user-id': 'github:1' },
  });
  expect(del.status).toBe(200);
  expect(await rawSession(proxy.url, { 'x-user-id': 'github:3' })).toBeTruthy();
});

test('a message over the size limit gets 413, for a new session and in one', async () => {
  const proxy = await proxyWith({ maxMessageBytes: 2000 });
  const padded = { ...INITIALIZE, params: { ...INITIALIZE.params, padding: 'x'.repeat(3000) } };
  const refused = await post(proxy.url, padded);
  expect(refused.status).toBe(413);
  expect((await errorOf(refused)).message).toMatch(/at most 2000 bytes/);
  expect(proxy.sessions.size).toBe(0);
  const sessionId = await rawSession(proxy.url);
  const big = await post(
    proxy.url,
    { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { message: 'y'.repeat(3000) } } },
    { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
  );
  expect(big.status).toBe(413);
  expect((await listTools(proxy.url, sessionId)).status).toBe(200);
});

test('a server message over the size limit ends the session with an error to the request', async () => {
  const proxy = await proxyWith({ maxMessageBytes: 4000 });
  const { client } = await connect(proxy.url);
  expect(textOf(await client.callTool({ name: 'big', arguments: { bytes: 1000 } }))).toHaveLength(1000);
  await expect(client.callTool({ name: 'big', arguments: { bytes: 5000 } })).rejects.toMatchObject({
    code: ErrorCode.ConnectionClosed,
    message: expect.stringMatching(/larger than 4000 bytes/),
  });
  await client.close();
});

test('a server that cannot be started: initialize gets a JSON-RPC error naming the reason', async () => {
  const proxy = await proxyWith({ command: ['/nonexistent/mcp-server'] });
  const res = await post(proxy.url, INITIALIZE);
  const text = await res.text();
  expect(text).toMatch(/"code":-32000/);
  expect(text).toMatch(/could not be started: spawn \/nonexistent\/mcp-server ENOENT/);
  await waitFor(() => proxy.sessions.size === 0);
});

test('a server that ignores stdin closing and SIGTERM is killed', async () => {
  const proxy = await proxyWith({ killGraceMs: 1000 }, { ...process.env, FIXTURE_STUBBORN: '1' });
  const { client, transport } = await connect(proxy.url);
  const { pid } = await whoami(client);
  await transport.terminateSession();
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(alive(pid)).toBe(true); // stdin closed, then SIGTERM: it is still there
  await waitFor(() => !alive(pid), 5000);
  await client.close();
});

test('SIGTERM stops the proxy and every server it started, grandchildren included', async () => {
  // `sh -c '…; true'` keeps the shell as the direct child, as `npx` is: the server is a grandchild.
  const proxy = spawn(
    process.execPath,
    ['mcp-services/proxy/src/main.ts', '--', 'sh', '-c', `"${process.execPath}" "${FIXTURE}"; true`],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: '0', MCP_PROXY_KILL_GRACE: '0.3', FIXTURE_STUBBORN: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  proxy.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(() => output.includes('"listening"'), 10_000);
  const url = JSON.parse(output.split('\n').find((l) => l.includes('"listening"'))!).url as string;
  const sessions = await Promise.all([connect(url, 'github:1'), connect(url, 'github:2')]);
  const pids = await Promise.all(sessions.map(async ({ client }) => (await whoami(client)).pid));
  expect(pids.every(alive)).toBe(true);
  const exited = once(proxy, 'exit');
  proxy.kill('SIGTERM');
  const [code] = await exited;
  expect(code).toBe(0);
  expect(pids.filter(alive)).toEqual([]);
  await Promise.all(sessions.map(({ client }) => client.close()));
}, 20_000);
