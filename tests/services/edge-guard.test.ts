/**
 * The native services accept MCP requests only through the gateway's edge
 * (mcp-services/shared/edge-guard.ts): the settings' rules, the shared handler in-process, and
 * every native service as a real process (forged requests refused, /health open, exit 78 when
 * it may not start).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EDGE_SECRET_HEADER as AUTH_EDGE_SECRET_HEADER } from '../../contracts/headers.ts';
import { freePort } from '../../auth/src/http/free-port.ts';
import { createEchoServer } from '../../mcp-services/shared/echo.ts';
import {
  EDGE_SECRET_HEADER,
  edgeSecretFromEnv,
  EdgeSecretError,
  EX_CONFIG,
  FORBIDDEN_MESSAGE,
  MIN_EDGE_SECRET_LENGTH,
} from '../../mcp-services/shared/edge-guard.ts';
import { createServiceHandler, listen } from '../../mcp-services/shared/http-service.ts';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from '../../mcp-services/shared/keep-alive.ts';
import { socketName } from '../../mcp-services/tmux/src/tmux.ts';

const SECRET = 'edge-secret-for-the-service-tests-0123456789';
const FORBIDDEN = { jsonrpc: '2.0', error: { code: -32000, message: FORBIDDEN_MESSAGE }, id: null };
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function post(url: string, headers: Record<string, string>, body: unknown = INITIALIZE): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
}

test("the header's name is auth's: the two cannot drift apart", () => {
  expect(EDGE_SECRET_HEADER).toBe(AUTH_EDGE_SECRET_HEADER);
  expect(FORBIDDEN_MESSAGE).toBe("Forbidden: this service only accepts requests through the gateway's edge");
  expect(EX_CONFIG).toBe(78);
});

describe('MCP_EDGE_SECRET', () => {
  const long = 'x'.repeat(MIN_EDGE_SECRET_LENGTH);
  test('unset: allowed on loopback only', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect(edgeSecretFromEnv({}, host)).toBeUndefined();
      expect(edgeSecretFromEnv({ MCP_EDGE_SECRET: '' }, host)).toBeUndefined();
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'mcp-time', '::ffff:127.0.0.1', '']) {
      expect(() => edgeSecretFromEnv({}, host)).toThrow(EdgeSecretError);
      expect(() => edgeSecretFromEnv({}, host)).toThrow(/MCP_EDGE_SECRET is not set and HOST=.* is not loopback/);
    }
  });

  test('shorter than 32 characters: refused anywhere, without saying the value', () => {
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      expect(() => edgeSecretFromEnv({ MCP_EDGE_SECRET: long.slice(1) }, host)).toThrow(/too short \(31 characters/);
      expect(edgeSecretFromEnv({ MCP_EDGE_SECRET: long }, host)).toBe(long);
    }
    expect(() => edgeSecretFromEnv({ MCP_EDGE_SECRET: 'hunter2' }, '0.0.0.0')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });
});

describe('the shared handler, with a secret', () => {
  let server: Server;
  let url: string;
  let created = 0;
  const logged: { level: string; fields?: Record<string, unknown>; msg: string }[] = [];
  const log = {
    info: (fields: Record<string, unknown>, msg: string) => void logged.push({ level: 'info', fields, msg }),
    warn: (msg: string) => void logged.push({ level: 'warn', msg }),
  };

  beforeAll(async () => {
    const create = () => {
      created++;
      return createEchoServer('echo-stateful', { stateful: true });
    };
    server = createServer(
      createServiceHandler({ name: 'echo-stateful', stateful: true, create, edgeSecret: SECRET, log }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  test('a forged request (X-User-Id, no or a wrong X-Gateway-Edge) gets 403 and creates no session', async () => {
    // (Surrounding whitespace is not part of a field value, RFC 9110 §5.5: `${SECRET} ` is SECRET.)
    const wrong = [undefined, 'forged-edge-value', SECRET.replace(/.$/, '!'), `${SECRET}x`, SECRET.toUpperCase()];
    for (const edge of wrong) {
      const headers: Record<string, string> = { 'x-user-id': 'github:666', 'x-user-login': 'mallory' };
      if (edge !== undefined) headers['x-gateway-edge'] = edge;
      const res = await post(url, headers);
      expect(res.status).toBe(403);
      expect(res.headers.get('mcp-session-id')).toBeNull();
      expect(await res.json()).toEqual(FORBIDDEN);
    }
    // Every method, every path but /health.
    const get = await fetch(url, { headers: { 'x-user-id': 'github:666', accept: 'text/event-stream' } });
    expect(get.status).toBe(403);
    await get.body?.cancel();
    expect((await fetch(url.replace('/mcp', '/other'))).status).toBe(403);
    expect(created).toBe(0);

    const refusals = logged.filter((l) => l.msg === 'request refused: not through the edge');
    expect(refusals).toHaveLength(wrong.length + 2);
    expect(refusals.map((l) => l.fields!.edgeHeader)).toEqual([
      'missing',
      'wrong',
      'wrong',
      'wrong',
      'wrong',
      'missing',
      'missing',
    ]);
    expect(refusals[0]!.fields).toMatchObject({ method: 'POST', path: '/mcp' });
    expect(JSON.stringify(logged)).not.toMatch(/forged-edge-value|edge-secret-for/i);
  });

  test('two copies of the header, even both right, are refused', async () => {
    const { port } = server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mcp',
          method: 'POST',
          // Raw headers, sent as they are: Host and Content-Length by hand.
          headers: [
            ['host', `127.0.0.1:${port}`],
            ['content-length', String(Buffer.byteLength(JSON.stringify(INITIALIZE)))],
            ['content-type', 'application/json'],
            ['accept', 'application/json, text/event-stream'],
            ['x-gateway-edge', SECRET],
            ['X-Gateway-Edge', SECRET],
          ].flat(),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(INITIALIZE));
    });
    expect(status).toBe(403);
    expect(created).toBe(0);
  });

  test('/health answers without the header', async () => {
    const res = await fetch(url.replace('/mcp', '/health'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', service: 'echo-stateful' });
  });

  test('the right secret is served; the header is gone before any tool sees the request', async () => {
    const client = new Client({ name: 'edge-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { 'X-Gateway-Edge': SECRET, 'X-User-Id': 'github:7', 'X-User-Login': 'alice' } },
      }),
    );
    try {
      const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
      const seen = JSON.parse(result.content[0]!.text) as {
        identity: Record<string, string>;
        headers: Record<string, string>;
      };
      expect(seen.identity).toMatchObject({ id: 'github:7', login: 'alice' });
      expect(seen.headers['x-gateway-edge']).toBeUndefined();
      expect(JSON.stringify(seen)).not.toContain(SECRET);
      expect(created).toBe(1);
    } finally {
      await client.close();
    }
  });
});

test('listen(): idle connections outlive the edge proxies’ (Traefik: 90 s)', async () => {
  const saved = { HOST: process.env.HOST, PORT: process.env.PORT };
  Object.assign(process.env, { HOST: '127.0.0.1', PORT: '0' });
  const log = { info: () => {}, warn: () => {} };
  const signalHandlers = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  const server = await listen({
    name: 'echo-stateless',
    stateful: false,
    create: () => createEchoServer('echo-stateless', { stateful: false }),
    log,
  });
  try {
    expect(server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
    expect(server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect([KEEP_ALIVE_TIMEOUT_MS, HEADERS_TIMEOUT_MS]).toEqual([120_000, 121_000]);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    // listen() stops the process on these signals: not this test's process.
    for (const [signal, before] of Object.entries(signalHandlers) as [NodeJS.Signals, NodeJS.SignalsListener[]][]) {
      for (const handler of process.listeners(signal)) if (!before.includes(handler)) process.off(signal, handler);
    }
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});

describe('every native service, as a process', () => {
  const SERVICES = ['echo-stateful', 'echo-stateless', 'fetch', 'time', 'tmux'];
  const children: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }),
    );
  });

  function start(service: string, env: Record<string, string>) {
    const child = spawn(process.execPath, [`mcp-services/${service}/src/main.ts`], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, stdout: () => stdout, stderr: () => stderr };
  }

  async function healthy(port: number, child: ChildProcess): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('not healthy in time');
  }

  async function exitCode(child: ChildProcess): Promise<number | null> {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code] = (child.exitCode !== null ? [child.exitCode] : await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    return code;
  }

  test.each(SERVICES)(
    '%s: off loopback without MCP_EDGE_SECRET it does not start: one line, exit 78',
    async (service) => {
      const run = start(service, { HOST: '0.0.0.0', PORT: String(await freePort()) });
      expect(await exitCode(run.child)).toBe(78);
      expect(run.stderr().trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(`^${service}: MCP_EDGE_SECRET is not set and HOST=0\\.0\\.0\\.0 is not loopback`),
        ),
      ]);
      expect(run.stdout()).toBe('');
    },
  );

  test('a short MCP_EDGE_SECRET: exit 78, even on loopback', async () => {
    const run = start('time', { HOST: '127.0.0.1', PORT: String(await freePort()), MCP_EDGE_SECRET: 'short-secret' });
    expect(await exitCode(run.child)).toBe(78);
    expect(run.stderr()).toMatch(/^time: MCP_EDGE_SECRET is too short \(12 characters, at least 32\)/);
    expect(run.stderr()).not.toContain('short-secret');
  });

  test('without MCP_EDGE_SECRET on loopback: requests without the header pass, with one warning at startup', async () => {
    const port = await freePort();
    const run = start('echo-stateless', { HOST: '127.0.0.1', PORT: String(port) });
    await healthy(port, run.child);
    const res = await post(`http://127.0.0.1:${port}/mcp`, { 'x-user-id': 'github:1' });
    expect(res.status).toBe(200);
    await res.text();
    const warnings = run
      .stdout()
      .split('\n')
      .filter((l) => l.includes('MCP_EDGE_SECRET is not set'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 40 });
  });

  test.each(SERVICES)(
    '%s with MCP_EDGE_SECRET: forged requests 403, the edge served, /health open',
    async (service) => {
      const port = await freePort();
      const run = start(service, { HOST: '127.0.0.1', PORT: String(port), MCP_EDGE_SECRET: SECRET });
      await healthy(port, run.child);
      const url = `http://127.0.0.1:${port}/mcp`;
      for (const edge of [undefined, 'forged-edge-value']) {
        const headers: Record<string, string> = { 'x-user-id': 'github:666' };
        if (edge) headers['x-gateway-edge'] = edge;
        const forged = await post(url, headers);
        expect(forged.status).toBe(403);
        expect(await forged.json()).toEqual(FORBIDDEN);
      }
      const served = await post(url, { 'x-user-id': 'github:1', 'x-gateway-edge': SECRET });
      expect(served.status).toBe(200);
      expect(await served.text()).toContain('"serverInfo"');
      expect(run.stdout()).toContain('request refused: not through the edge');
      expect(run.stdout() + run.stderr()).not.toContain(SECRET);
      expect(run.stdout()).not.toContain('forged-edge-value');
    },
  );

  test('tmux: neither the secret nor other gateway settings reach the shells it starts', async () => {
    const port = await freePort();
    const run = start('tmux', {
      HOST: '127.0.0.1',
      PORT: String(port),
      MCP_EDGE_SECRET: SECRET,
      MCP_SERVICE_NAME: 'tmux',
      PUBLIC_URL: 'https://gateway.example.com',
      MCP_ALLOWED_ORIGINS: 'https://app.example.com',
      ...(process.env.TMUX_TMPDIR ? { TMUX_TMPDIR: process.env.TMUX_TMPDIR } : {}),
    });
    await healthy(port, run.child);
    const user = `edge-test-${randomUUID()}`;
    const client = new Client({ name: 'edge-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
        requestInit: { headers: { 'x-gateway-edge': SECRET, 'x-user-id': user } },
      }),
    );
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = (await client.callTool({ name, arguments: args })) as { content: { text: string }[] };
      return result.content[0]!.text;
    };
    try {
      // The session's command prints its whole environment, then waits to be read.
      await call('create_session', { name: 'env', command: 'env | sort; sleep 30' });
      let screen = '';
      for (let i = 0; i < 50 && !screen.includes('PATH='); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        screen = await call('capture_pane', { session: 'env', lines: 2000 });
      }
      expect(screen).toContain('PATH=');
      expect(screen).not.toContain(SECRET);
      expect(screen).not.toMatch(/MCP_|PUBLIC_URL|PORT=|HOST=/);
      await call('kill_session', { session: 'env' });
    } finally {
      await client.close();
      const kill = spawn('tmux', ['-L', socketName(user), 'kill-server'], { stdio: 'ignore' });
      await once(kill, 'exit');
    }
  });
});
