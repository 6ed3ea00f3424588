/**
 * `npm start` leaves no MCP service behind (issue 14, "Startup failures never orphan children"):
 * its services end with it however it ends — a port already in use at startup, or the gateway
 * killed with SIGKILL, which gives it no chance to stop them. Each service and proxy is spawned with
 * an IPC channel it watches (auth/src/edge/children.ts, mcp-services/shared/parent.ts); Caddy, the
 * edge of `npm run start:caddy`, with the kernel's parent-death signal (edge/caddy.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { startStack } from '../support/stack.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function allGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((resolve) => setTimeout(resolve, 100));
  return pids.filter(alive);
}

const SERVICES = { MCP_ECHO_STATEFUL_ENABLED: 'true', MCP_EVERYTHING_ENABLED: 'true', MCP_TIME_ENABLED: 'true' };

const servicePids = (logs: Record<string, unknown>[]): number[] =>
  logs.filter((l) => l.msg === 'MCP service started').map((l) => l.pid as number);

test('the gateway killed with SIGKILL: every service and proxy it started ends too', async () => {
  const stack = await startStack({ edge: 'local', env: SERVICES });
  const pids = servicePids(stack.logs());
  expect(pids).toHaveLength(3);
  expect(pids.every(alive)).toBe(true);
  stack.process.kill('SIGKILL');
  await once(stack.process, 'exit');
  expect(await allGone(pids, 10_000)).toEqual([]);
}, 60_000);

test('with Caddy as the edge (npm run start:caddy), the gateway killed with SIGKILL: Caddy ends too', async () => {
  const stack = await startStack({ edge: 'caddy', env: SERVICES });
  const caddy = stack.logs().find((l) => l.msg === 'Caddy started')?.pid as number;
  const pids = [caddy, ...servicePids(stack.logs())];
  expect(pids.every(alive)).toBe(true);
  stack.process.kill('SIGKILL');
  await once(stack.process, 'exit');
  expect(await allGone(pids, 10_000)).toEqual([]);
}, 60_000);

test('the edge cannot listen (the port is taken): exit 1, and no service left running', async () => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const port = (taken.address() as { port: number }).port;
  try {
    const child = spawn(process.execPath, ['auth/src/embedded.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DOTENV_CONFIG_PATH: '/nonexistent',
        PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        ...SERVICES,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(out).toContain('the edge cannot listen');
    const logs = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const pids = servicePids(logs);
    expect(pids).toHaveLength(3);
    expect(await allGone(pids, 10_000)).toEqual([]);
  } finally {
    taken.close();
  }
}, 60_000);

test('an orderly stop (SIGTERM): exit 0, and no service left running', async () => {
  const stack = await startStack({ edge: 'local', env: SERVICES });
  const pids = servicePids(stack.logs());
  expect(await stack.stop()).toBe(0);
  expect(await allGone(pids, 10_000)).toEqual([]);
}, 60_000);
