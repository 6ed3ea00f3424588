/**
 * The composed stack, black box: `node auth/src/embedded.ts` (what `npm start` runs) as a real
 * process on a free port, with the GitHub stand-in as its identity provider. Its stdout is kept
 * (JSON log lines and the startup banner) for assertions.
 *
 * `readme: true` starts it exactly as the README's quick start does instead: `.env.example`
 * copied to a `.env` (in a temporary directory, named by DOTENV_CONFIG_PATH, so that a
 * developer's own `.env` is left alone) and `npm start`, with PORT, the GitHub stand-in's
 * settings and `env` set from outside, as a user would set them in that `.env`.
 *
 * The edge is the local one, or Caddy with GATEWAY_EDGE=caddy in the test file's environment
 * (Jest's caddy project, `npm run test:e2e:caddy`): then the same stack runs as
 * `npm run start:caddy` (`--edge=caddy`), and `stop()` also checks that Caddy did not outlive the
 * gateway.
 *
 * The stack logs at debug level, where the local edge logs every path it routed; `stop()` checks
 * each of them against the Traefik rules generated for production (route-check.ts), so every
 * path any end-to-end client requested is proven to reach the same place in both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GitHubStandin } from './github-standin.ts';
import { routeDisagreements, routedRequests } from './route-check.ts';
export { freePort } from '../../auth/src/http/free-port.ts';
import { freePort } from '../../auth/src/http/free-port.ts';

export type EdgeKind = 'local' | 'caddy';

/** The edge the end-to-end suites go through: GATEWAY_EDGE (default: the local edge). */
export const GATEWAY_EDGE: EdgeKind = (() => {
  const edge = process.env.GATEWAY_EDGE || 'local';
  if (edge !== 'local' && edge !== 'caddy') throw new Error(`GATEWAY_EDGE=${edge}: local or caddy`);
  return edge;
})();

export interface Stack {
  url: string;
  edge: EdgeKind;
  port: number;
  output: () => string;
  /** The first match of `pattern` in the output, once there (the banner follows "gateway listening"). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  logs: () => Record<string, unknown>[];
  process: ChildProcess;
  stop(): Promise<number | null>;
}

export async function startStack(
  options: { github?: GitHubStandin; env?: Record<string, string>; readme?: boolean; edge?: EdgeKind } = {},
): Promise<Stack> {
  const edge = options.edge ?? GATEWAY_EDGE;
  const port = await freePort();
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port) };
  const github = options.github && {
    GITHUB_CLIENT_ID: options.github.clientId,
    GITHUB_CLIENT_SECRET: options.github.clientSecret,
    GITHUB_BASE_URL: options.github.baseUrl,
    GITHUB_API_URL: options.github.apiUrl,
    ALLOWED_GITHUB_USERS: 'octocat',
  };
  let child: ChildProcess;
  let url: string;
  let dotenvDir: string | undefined;
  if (options.readme) {
    // `cp .env.example .env && npm start`; the PUBLIC_URL it leaves empty means localhost.
    dotenvDir = mkdtempSync(join(tmpdir(), 'readme-stack-'));
    copyFileSync('.env.example', join(dotenvDir, '.env'));
    url = `http://localhost:${port}`;
    child = spawn('npm', edge === 'caddy' ? ['run', 'start:caddy', '--silent'] : ['start', '--silent'], {
      // What the environment sets wins over .env (dotenv never overrides), as for a user.
      // Debug level: the edge logs every path it routed, checked against Traefik's rules at stop().
      env: { ...base, DOTENV_CONFIG_PATH: join(dotenvDir, '.env'), LOG_LEVEL: 'debug', ...github, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: npm, and the node under it, are killed together
    });
  } else {
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['auth/src/embedded.ts', ...(edge === 'caddy' ? ['--edge=caddy'] : [])], {
      env: {
        ...base,
        DOTENV_CONFIG_PATH: '/nonexistent',
        PUBLIC_URL: url,
        LOG_LEVEL: 'debug',
        ...github,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  }
  /** SIGKILL to the gateway's whole process group (npm's node, or the gateway, and its services). */
  const killAll = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  };
  let out = '';
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  /** Caddy's process, when it is the edge (`Caddy started`). */
  const caddyPid = () => logs().find((l) => l.msg === 'Caddy started')?.pid as number | undefined;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // Generous: on two busy cores a start can take long; slow is not wrong.
  const deadline = Date.now() + 60_000;
  while (!out.includes('"msg":"gateway listening"')) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) {
      killAll();
      killCaddy(caddyPid());
      throw new Error(`the gateway did not start:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (edge === 'caddy' && caddyPid() === undefined) {
    killAll();
    throw new Error(`GATEWAY_EDGE=caddy, but the gateway did not start Caddy:\n${out}`);
  }
  return {
    url,
    port,
    edge,
    process: child,
    output: () => out,
    async waitForOutput(pattern, timeoutMs = 30_000) {
      for (const until = Date.now() + timeoutMs; ;) {
        const found = pattern.exec(out);
        if (found) return found;
        if (Date.now() > until) throw new Error(`${pattern} not in the gateway's output:\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    logs,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(killAll, 10_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      if (dotenvDir) rmSync(dotenvDir, { recursive: true, force: true });
      // The gateway stops its edge before it exits: a Caddy still running is an orphan.
      if (killCaddy(caddyPid())) throw new Error(`Caddy (pid ${caddyPid()}) outlived the gateway`);
      // Every path this suite's clients requested goes to the same place behind Traefik.
      const requests = routedRequests(logs());
      const disagreements = requests.length ? routeDisagreements(requests) : [];
      if (disagreements.length) {
        throw new Error(`Traefik would route these requests elsewhere:\n${disagreements.join('\n')}`);
      }
      return code;
    },
  };
}

/** Kills Caddy if it is still running; true if it was. */
function killCaddy(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
