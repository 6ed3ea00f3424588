/**
 * Redis unreachable, or refusing the password, when the gateway starts: one line on stderr names
 * the URL (without its password) and what to check, and the process exits 78 (EX_CONFIG) like
 * any other setting that cannot work; no stack trace. Real processes, a real redis-server.
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
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe.each(['auth/src/main.ts', 'auth/src/embedded.ts'])('%s', (entry) => {
  test('nothing listening at REDIS_URL: one line, exit 78', async () => {
    const closed = await freePort();
    const r = await start(entry, { REDIS_URL: `redis://:hunter2@127.0.0.1:${closed}` });
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      `Redis at redis://:***@127.0.0.1:${closed} is unreachable (connect ECONNREFUSED 127.0.0.1:${closed}) after 15 s: check REDIS_URL, and that Redis runs and accepts connections from this host.\n`,
    );
    // It said it was waiting, once, as a log line; no stack trace, no password anywhere.
    expect(r.stdout.match(/waiting for Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(up to 15 s\)/g)).toHaveLength(1);
    expect(r.stdout + r.stderr).not.toMatch(/hunter2| {4}at |MaxRetriesPerRequestError/);
  }, 30_000);

  test('a wrong password: one line at once, exit 78', async () => {
    const started = Date.now();
    const r = await start(entry, { REDIS_URL: `redis://:wrong-pass@127.0.0.1:${redis.port}` });
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
    const r = await start(entry, { REDIS_URL: `redis://127.0.0.1:${redis.port}` });
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
    /^Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(connect ECONNREFUSED [^)]+\) after 5 s: check REDIS_URL/,
  );
  expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
}, 20_000);
