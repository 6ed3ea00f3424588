/**
 * The Streamable HTTP rules the proxy enforces in front of its sessions (MCP 2025-11-25,
 * basic/transports): session ids, owners, protocol versions, origins, DELETE, /health.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  alive,
  connect,
  errorOf,
  post,
  rawSession,
  startTestProxy,
  textOf,
  waitFor,
  whoami,
  type TestProxy,
} from './fixtures/harness.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy();
});
afterAll(() => proxy.close());

describe('/health', () => {
  test('answers without spawning anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'proxy-health-'));
    const marker = join(dir, 'spawned');
    const probe = await startTestProxy({
      command: ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`],
    });
    try {
      const res = await fetch(probe.url.replace('/mcp', '/health'));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok', service: 'proxy-test', sessions: 0 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(existsSync(marker)).toBe(false);
      // The probe is able to see a spawn: an initialize starts the command.
      await post(probe.url, {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      });
      await waitFor(() => existsSync(marker));
    } finally {
      await probe.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('session ids', () => {
  test('a request other than initialize without Mcp-Session-Id gets 400', async () => {
    const res = await post(proxy.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { message: expect.stringMatching(/Mcp-Session-Id/) },
    });
    const get = await fetch(proxy.url, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(400);
    await get.body?.cancel();
  });

  test('an unknown session id gets 404 with a JSON-RPC error', async () => {
    const res = await post(proxy.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-session-id': 'nope' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' } });
  });

  test("another user presenting a session id gets 404; the owner's session is unaffected", async () => {
    const alice = await connect(proxy.url, 'github:100');
    try {
      const sessionId = alice.transport.sessionId!;
      const asBob = await post(
        proxy.url,
        { jsonrpc: '2.0', id: 9, method: 'tools/list' },
        { 'mcp-session-id': sessionId, 'x-user-id': 'github:200', 'mcp-protocol-version': '2025-11-25' },
      );
      expect(asBob.status).toBe(404);
      const noUser = await post(
        proxy.url,
        { jsonrpc: '2.0', id: 9, method: 'tools/list' },
        { 'mcp-session-id': sessionId, 'x-user-id': '', 'mcp-protocol-version': '2025-11-25' },
      );
      expect(noUser.status).toBe(404);
      const del = await fetch(proxy.url, {
        method: 'DELETE',
        headers: { 'mcp-session-id': sessionId, 'x-user-id': 'github:200' },
      });
      expect(del.status).toBe(404);
      expect(textOf(await alice.client.callTool({ name: 'echo', arguments: { message: 'still mine' } }))).toBe(
        'still mine',
      );
    } finally {
      await alice.client.close();
    }
  });

  test('a 2026-07-28 style request (no session, no handshake) gets a clear 400, not a crash', async () => {
    const res = await post(
      proxy.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    );
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/2026-07-28/);
  });
});

describe('MCP-Protocol-Version', () => {
  test('an unsupported version gets 400; every supported revision passes', async () => {
    const sessionId = await rawSession(proxy.url);
    const list = (version: string) =>
      post(
        proxy.url,
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { 'mcp-session-id': sessionId, 'mcp-protocol-version': version },
      );
    const bad = await list('1999-01-01');
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toMatch(/unsupported MCP-Protocol-Version 1999-01-01/);
    for (const version of ['2025-03-26', '2025-06-18', '2025-11-25']) {
      const ok = await list(version);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('"tools"');
    }
    await fetch(proxy.url, { method: 'DELETE', headers: { 'mcp-session-id': sessionId, 'x-user-id': 'github:1' } });
  });
});

describe('Origin', () => {
  test('a foreign origin gets 403 and spawns nothing', async () => {
    const before = proxy.sessions.size;
    const res = await post(
      proxy.url,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      },
      { origin: 'https://evil.example.com' },
    );
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringMatching(/origin/) } });
    expect(proxy.sessions.size).toBe(before);
  });

  test('no Origin, an allowed origin and a loopback origin pass', async () => {
    const variants: Record<string, string>[] = [
      {},
      { origin: 'https://app.example.com' },
      { origin: 'http://localhost:6274' },
    ];
    for (const headers of variants) {
      const sessionId = await rawSession(proxy.url, headers);
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      await fetch(proxy.url, { method: 'DELETE', headers: { 'mcp-session-id': sessionId, 'x-user-id': 'github:1' } });
    }
  });
});

describe('DELETE', () => {
  test('ends the session and its server process; the id is then unknown', async () => {
    const { client, transport } = await connect(proxy.url);
    const { pid } = await whoami(client);
    expect(alive(pid)).toBe(true);
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    await waitFor(() => !alive(pid));
    const res = await post(
      proxy.url,
      { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(404);
    await client.close();
  });
});

describe('the child process', () => {
  test("gets the user's identity, and none of the proxy's settings", async () => {
    const env = { ...process.env, MCP_PROXY_MAX_SESSIONS: '7', MCP_USER_ID: 'stale', PORT: '1234', KEEP_ME: 'yes' };
    const own = await startTestProxy({}, env);
    const { client } = await connect(own.url, 'github:4242');
    try {
      const { env: childEnv } = await whoami(client);
      expect(childEnv.MCP_USER_ID).toBe('github:4242');
      expect(childEnv.MCP_USER_LOGIN).toBe('login-4242');
      expect(childEnv.MCP_PROXY_MAX_SESSIONS).toBeUndefined();
      expect(childEnv.PORT).toBeUndefined();
    } finally {
      await client.close();
      await own.close();
    }
  });
});

describe('logs', () => {
  test('carry no message contents at info level', async () => {
    const { client } = await connect(proxy.url);
    const secret = 'correct-horse-battery-staple';
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: secret } }))).toBe(secret);
    await client.close();
    expect(proxy.logs.some((line) => line.msg === 'session started')).toBe(true);
    expect(JSON.stringify(proxy.logs)).not.toContain(secret);
  });
});
