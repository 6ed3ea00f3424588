/**
 * The embedded default runs every enabled MCP service as its own process (as the Compose stack
 * runs each in its own container): on a free loopback port, with no gateway secret in its
 * environment, watched, and stopped with the gateway.
 */
import { GATEWAY_CHILD_IPC } from '../../../contracts/child-ipc.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Config, ServiceConfig } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { Upstream } from './proxy.ts';
import type { RemoteConfig } from '../config/upstream.ts';
import { PROXY, REPO_ROOT, type CatalogueEntry } from '../../../mcp-services/catalogue.ts';
import { freePort } from '../http/free-port.ts';

/** What a service process inherits: nothing secret, only what running a program needs. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'];

async function waitHealthy(name: string, upstream: Upstream, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`MCP service ${name} exited with code ${child.exitCode} while starting`);
    try {
      const res = await fetch(`http://${upstream.host}:${upstream.port}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`MCP service ${name} did not become healthy within ${timeoutMs / 1000} s`);
}

/** Calls `onLine` for each complete line of a child's output stream (and the rest at its end). */
function relayLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  });
  stream.on('end', () => {
    if (pending.trim()) onLine(pending);
  });
}

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * A service's own log line (pino JSON) goes on as a line of the gateway's log, at its own level and
 * with its own fields, so that `npm start` prints one stream, readable on a terminal and JSON
 * elsewhere; anything else the service prints is kept whole under `output`.
 */
function relay(log: Logger, line: string, fallback: 'info' | 'warn'): void {
  let entry: unknown;
  try {
    entry = line.startsWith('{') ? JSON.parse(line) : undefined;
  } catch {
    entry = undefined;
  }
  if (entry && typeof entry === 'object' && typeof (entry as { level?: unknown }).level === 'number') {
    const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = entry as Record<string, unknown>;
    log[PINO_LEVELS[level as number] ?? fallback](fields, typeof msg === 'string' ? msg : 'service output');
    return;
  }
  log[fallback]({ output: line }, 'service output');
}

export interface RunningServices {
  upstreams: Map<string, Upstream>;
  stop(): Promise<void>;
}

/** How a service runs: its own command through the proxy, or its catalogue entry. */
function commandOf(service: ServiceConfig, catalogue: Record<string, CatalogueEntry>): string[] | undefined {
  if (service.command) return [...PROXY, ...service.command];
  return catalogue[service.name]?.command;
}

/** Where requests to a service given by MCP_<S>_URL go. */
export function remoteUpstream(urlText: string, remote?: RemoteConfig): Upstream {
  const ca = remote?.ca;
  const url = new URL(urlText);
  const https = url.protocol === 'https:';
  // WHATWG URLs keep IPv6 hosts in brackets; node:http wants them without.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: Number(url.port || (https ? 443 : 80)),
    path: url.pathname,
    ...(https ? { tls: ca ? { ca } : {} } : {}),
    // The operator's own server (no AUTH, plain http on loopback) is reached as today.
    ...(remote && (https || remote.auth)
      ? { remote: { upstreamAuth: !!remote.auth, timeoutMs: remote.timeoutMs } }
      : {}),
  };
}

export async function startServices(
  config: Config,
  catalogue: Record<string, CatalogueEntry>,
  logger: Logger,
): Promise<RunningServices> {
  const unknown = config.services.filter((s) => !s.upstreamUrl && !commandOf(s, catalogue)).map((s) => s.name);
  if (unknown.length) {
    throw new Error(
      `no way to run MCP service(s) ${unknown.join(', ')}: not in the catalogue (${Object.keys(catalogue).join(', ')}); ` +
        'give your own with MCP_<SERVICE>_COMMAND or MCP_<SERVICE>_URL (docs/configuration.md)',
    );
  }
  const children: ChildProcess[] = [];
  const upstreams = new Map<string, Upstream>();
  let stopping = false;

  async function stop(): Promise<void> {
    stopping = true;
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  try {
    await Promise.all(
      config.services.map(async (service) => {
        if (service.upstreamUrl) {
          // An HTTP MCP server of the operator's: nothing to start, only where to send requests.
          upstreams.set(service.name, remoteUpstream(service.upstreamUrl, service.remote));
          return;
        }
        const [command, ...args] = commandOf(service, catalogue)!;
        const port = await freePort();
        const env: NodeJS.ProcessEnv = {
          HOST: '127.0.0.1',
          PORT: String(port),
          MCP_SERVICE_NAME: service.name,
          // For the service's own Origin check (MCP transport security), the edge's allowed origins.
          PUBLIC_URL: config.publicUrl,
          MCP_ALLOWED_ORIGINS: [...config.allowedOrigins].join(','),
          // Only requests that passed the edge carry it (edge/edge-secret.ts).
          MCP_EDGE_SECRET: service.edgeSecret,
          [GATEWAY_CHILD_IPC]: '1', // the IPC channel below is the gateway's (parent.ts)
        };
        for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name];
        Object.assign(env, catalogue[service.name]?.env);
        const prefix = `MCP_${service.name.toUpperCase().replaceAll('-', '_')}_`;
        for (const [k, v] of Object.entries(process.env)) if (k.startsWith(prefix)) env[k] = v;
        const child = spawn(command === 'node' ? process.execPath : command!, args, {
          cwd: REPO_ROOT,
          env,
          // The IPC channel is the child's watch on this process: it ends when the gateway does,
          // however the gateway ends (mcp-services/shared/parent.ts); nothing is sent on it.
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        children.push(child);
        const log = logger.child({ mcpService: service.name });
        relayLines(child.stdout!, (line) => relay(log, line, 'info'));
        relayLines(child.stderr!, (line) => relay(log, line, 'warn'));
        child.on('exit', (code, signal) => {
          if (!stopping) log.error({ code, signal }, 'MCP service exited');
        });
        const upstream = { host: '127.0.0.1', port };
        await waitHealthy(service.name, upstream, child);
        log.info({ pid: child.pid, port }, 'MCP service started');
        upstreams.set(service.name, upstream);
      }),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { upstreams, stop };
}
