/**
 * Redis unreachable when the gateway starts: one log line names the URL (without its password)
 * and what to check, and the gateway waits, trying again with backoff, and starts when Redis
 * answers. Redis refusing the password: one line on stderr, and the process exits 78 (EX_CONFIG)
 * like any other setting that cannot work. No stack trace. Real processes, a real redis-server.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../auth/src/http/free-port.ts';
import { run } from '../../auth/src/cli.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis({ password: 's3cret-redis-pass' });
});
afterAll(() => redis.stop());

async function start(entry: string, env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: {
      PATH: process.env.PATH!,
      DOTENV_CONFIG_PATH: '/nonexistent',
      PORT: String(port),
      PUBLIC_URL: `http://localhost:${port}`,
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  return {
    child,
    output: () => stdout + stderr,
    async ended() {
      const [code] = await exited;
      return { code, stdout, stderr };
    },
  };
}

describe.each(['auth/src/main.ts', 'auth/src/embedded.ts'])('%s', (entry) => {
  test('nothing listening at REDIS_URL: one line, then it waits, and starts when Redis comes', async () => {
    const closed = await freePort();
    const started = await start(entry, { REDIS_URL: `redis://:hunter2@127.0.0.1:${closed}` });
    try {
      const deadline = Date.now() + 10_000;
      while (!started.output().includes('Retrying with backoff') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const line = `Redis at redis://:***@127.0.0.1:${closed} is unreachable (connect ECONNREFUSED 127.0.0.1:${closed}): check REDIS_URL, and that Redis runs and accepts connections from this host. Retrying with backoff.`;
      expect(started.output().split(line)).toHaveLength(2);
      const late = await startRedis({ port: closed, password: 'hunter2' });
      try {
        const up = Date.now() + 20_000;
        while (!/listening/.test(started.output()) && Date.now() < up) await new Promise((r) => setTimeout(r, 50));
        expect(started.output()).toMatch(/storage reachable: starting/);
        expect(started.output()).toMatch(/listening/);
      } finally {
        started.child.kill('SIGTERM');
        await started.ended();
        await late.stop();
      }
      // No stack trace, no password anywhere.
      expect(started.output()).not.toMatch(/hunter2| {4}at |MaxRetriesPerRequestError/);
    } finally {
      started.child.kill('SIGKILL');
    }
  }, 40_000);

  test('a wrong password: one line at once, exit 78', async () => {
    const started = Date.now();
    const r = await (await start(entry, { REDIS_URL: `redis://:wrong-pass@127.0.0.1:${redis.port}` })).ended();
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(
      new RegExp(
        `^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused the credentials \\(WRONGPASS[^)]*\\): check the password in REDIS_URL \\(REDIS_PASSWORD in the Compose stack\\)\\.\\n$`,
      ),
    );
    expect(Date.now() - started).toBeLessThan(10_000); // no waiting for a password to change
    expect(r.stdout + r.stderr).not.toMatch(/wrong-pass| {4}at /);
  });

  test('no password where one is required: one line, exit 78', async () => {
    const r = await (await start(entry, { REDIS_URL: `redis://127.0.0.1:${redis.port}` })).ended();
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ refused the credentials \(NOAUTH[^)]*\)/);
  });
});

test('the admin CLI: one line on stderr, exit 69', async () => {
  const closed = await freePort();
  let stderr = '';
  const code = await run(
    ['clients', 'list'],
    { PUBLIC_URL: 'http://localhost:8000', REDIS_URL: `redis://127.0.0.1:${closed}` },
    () => undefined,
    { interactive: false, ask: async () => '' },
    (s) => (stderr += s),
  );
  expect(code).toBe(69);
  expect(stderr).toMatch(
    /^Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(connect ECONNREFUSED [^)]+\): check REDIS_URL/,
  );
  expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
}, 20_000);
