/**
 * The auth service as Compose runs it, `node auth/src/main.ts`, a real process on a free port (or
 * a given one), with the GitHub stand-in as its identity provider and JSON logs kept for
 * assertions. For tests of what processes do: replicas, crashes, restarts, Redis going away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../auth/src/http/free-port.ts';
import type { GitHubStandin } from './github-standin.ts';

export interface GatewayProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: a crash, no orderly shutdown. */
  crash(): Promise<void>;
  /** SIGTERM, and its exit code. */
  stop(): Promise<number | null>;
}

export async function startGatewayProcess(options: {
  github: GitHubStandin;
  env: Record<string, string>;
  /** This port, and PUBLIC_URL on it, unless `publicUrl` names another replica's. */
  port?: number;
  publicUrl?: string;
}): Promise<GatewayProcess> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['auth/src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      DOTENV_CONFIG_PATH: '/nonexistent',
      PUBLIC_URL: options.publicUrl ?? url,
      PORT: String(port),
      GITHUB_CLIENT_ID: options.github.clientId,
      GITHUB_CLIENT_SECRET: options.github.clientSecret,
      GITHUB_BASE_URL: options.github.baseUrl,
      GITHUB_API_URL: options.github.apiUrl,
      ALLOWED_GITHUB_USERS: 'octocat',
      MCP_ECHO_ENABLED: 'true',
      LOG_FORMAT: 'json',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // Generous, as for the whole stack (stack.ts): on two busy cores a start can take long; slow is not wrong.
  const deadline = Date.now() + 60_000;
  while (!out.includes('auth service listening')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the gateway did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const end = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill(signal);
    const [code] = await exited;
    return code;
  };
  return {
    url,
    port,
    child,
    output: () => out,
    crash: async () => void (await end('SIGKILL')),
    stop: () => end('SIGTERM'),
  };
}
