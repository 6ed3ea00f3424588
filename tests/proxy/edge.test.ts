/**
 * The proxy accepts MCP requests only through the gateway's edge (mcp-services/shared/edge-guard.ts):
 * with MCP_EDGE_SECRET set, a request without the right X-Gateway-Edge is refused before
 * anything else (no session, no child process); the header and the secret never reach the
 * child; /health stays open; off loopback without a secret the proxy does not start (exit 78).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from '../../mcp-services/shared/keep-alive.ts';
import { freePort } from '../../auth/src/http/free-port.ts';
import {
  connect,
  FIXTURE,
  INITIALIZE,
  post,
  REPO_ROOT,
  startTestProxy,
  textOf,
  waitFor,
  whoami,
  type TestProxy,
} from './fixtures/harness.ts';

const SECRET = 'edge-secret-for-the-proxy-tests-0123456789abcdef';
const FORBIDDEN = {
  jsonrpc: '2.0',
  error: { code: -32000, message: "Forbidden: this service only accepts requests through the gateway's edge" },
  id: null,
};

const proxies: TestProxy[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A proxy with the edge secret whose command leaves a marker file when it is ever started. */
async function probe(): Promise<{ proxy: TestProxy; spawned: () => boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-edge-'));
  dirs.push(dir);
  const marker = join(dir, 'spawned');
  const proxy = await startTestProxy({
    edgeSecret: SECRET,
    command: ['node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`],
  });
  proxies.push(proxy);
  return { proxy, spawned: () => existsSync(marker) };
}

test('a forged request (X-User-Id, no or a wrong X-Gateway-Edge) gets 403 and starts nothing', async () => {
  const { proxy, spawned } = await probe();
  const forgeries: Record<string, string>[] = [
    { 'x-user-id': 'github:666' },
    { 'x-user-id': 'github:666', 'x-gateway-edge': 'forged-edge-value' },
    { 'x-user-id': 'github:666', 'x-gateway-edge': SECRET.replace(/.$/, '!') }, // same length, last character off
    { 'x-user-id': 'github:666', 'x-gateway-edge': `${SECRET}x` },
    { 'x-user-id': 'github:666', 'x-gateway-edge': '' },
    // Refused as not from the edge before the Origin check runs.
    { 'x-user-id': 'github:666', origin: 'https://evil.example.com' },
  ];
  for (const headers of forgeries) {
    const res = await post(proxy.url, INITIALIZE, headers);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(FORBIDDEN);
  }
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(proxy.url, { method, headers: { 'x-user-id': 'github:666', 'mcp-session-id': 'x' } });
    expect(res.status).toBe(403);
    await res.body?.cancel();
  }
  expect((await fetch(proxy.url.replace('/mcp', '/elsewhere'))).status).toBe(403);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(proxy.sessions.size).toBe(0);
  expect(spawned()).toBe(false);

  const refusals = proxy.logs.filter((l) => l.msg === 'request refused: not through the edge');
  expect(refusals).toHaveLength(forgeries.length + 3);
  expect(refusals[0]).toMatchObject({ level: 30, method: 'POST', path: '/mcp', edgeHeader: 'missing' });
  expect(refusals[1]).toMatchObject({ edgeHeader: 'wrong' });
  // The log names neither the secret nor what was sent in its place.
  const logs = JSON.stringify(proxy.logs);
  for (const value of [SECRET, SECRET.replace(/.$/, '!'), 'forged-edge-value']) expect(logs).not.toContain(value);

  // The probe can see a spawn: the right secret starts the command.
  await post(proxy.url, INITIALIZE, { 'x-gateway-edge': SECRET });
  await waitFor(spawned);
});

test('/health answers without the header', async () => {
  const { proxy } = await probe();
  const res = await fetch(proxy.url.replace('/mcp', '/health'));
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok', service: 'proxy-test', sessions: 0 });
});

test('the right secret works; neither it nor the header reaches the child or a log', async () => {
  // The proxy's own environment has the secret, as under npm start and Compose.
  const proxy = await startTestProxy({ edgeSecret: SECRET }, { ...process.env, MCP_EDGE_SECRET: SECRET });
  proxies.push(proxy);
  const { client } = await connect(proxy.url, 'github:4242', {}, { 'X-Gateway-Edge': SECRET });
  try {
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'through the edge' } }))).toBe(
      'through the edge',
    );
    const { env } = await whoami(client);
    expect(env.MCP_USER_ID).toBe('github:4242');
    expect(env.MCP_EDGE_SECRET).toBeUndefined();
    for (const needle of [SECRET, 'gateway_edge', 'gateway-edge', 'edge_secret']) {
      expect(JSON.parse(textOf(await client.callTool({ name: 'env_search', arguments: { needle } })))).toEqual([]);
    }
    // The search does find what is there (it is not blind).
    expect(
      JSON.parse(textOf(await client.callTool({ name: 'env_search', arguments: { needle: 'github:4242' } }))),
    ).toEqual(['MCP_USER_ID']);
  } finally {
    await client.close();
  }
  expect(JSON.stringify(proxy.logs)).not.toContain(SECRET);
});

test('idle connections outlive the edge proxies’ (Traefik: 90 s)', async () => {
  const { proxy } = await probe();
  expect(proxy.server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
  expect(KEEP_ALIVE_TIMEOUT_MS).toBe(120_000);
  expect(proxy.server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
  expect(HEADERS_TIMEOUT_MS).toBe(121_000);
});

describe('the proxy process', () => {
  async function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, ['mcp-services/proxy/src/main.ts', '--', 'node', FIXTURE], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    return { code, stderr };
  }

  test('off loopback without MCP_EDGE_SECRET, or with a short one, it does not start: one line, exit 78', async () => {
    for (const host of ['0.0.0.0', '::']) {
      const { code, stderr } = await run({ HOST: host, PORT: '0' });
      expect(code).toBe(78);
      expect(stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^mcp-proxy: MCP_EDGE_SECRET is not set and HOST=/),
      ]);
    }
    const short = await run({ HOST: '127.0.0.1', PORT: '0', MCP_EDGE_SECRET: 'too-short-a-secret' });
    expect(short.code).toBe(78);
    expect(short.stderr).toMatch(/^mcp-proxy: MCP_EDGE_SECRET is too short \(18 characters, at least 32\)/);
    expect(short.stderr).not.toContain('too-short-a-secret');
  });

  test('with MCP_EDGE_SECRET: forged requests refused, the edge served, the child without the secret', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['mcp-services/proxy/src/main.ts', '--', 'node', FIXTURE], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), MCP_EDGE_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitFor(() => output.includes('"listening"'), 10_000);
      const url = `http://127.0.0.1:${port}/mcp`;
      const forged = await post(url, INITIALIZE, { 'x-user-id': 'github:666' });
      expect(forged.status).toBe(403);
      expect(await forged.json()).toEqual(FORBIDDEN);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      const { client } = await connect(url, 'github:7', {}, { 'x-gateway-edge': SECRET });
      const found = JSON.parse(textOf(await client.callTool({ name: 'env_search', arguments: { needle: SECRET } })));
      expect(found).toEqual([]);
      expect((await whoami(client)).env.MCP_EDGE_SECRET).toBeUndefined();
      await client.close();
      expect(output).toContain('request refused: not through the edge');
      expect(output).not.toContain(SECRET);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }, 20_000);
});
