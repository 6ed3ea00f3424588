/**
 * The proxy's settings: the stdio server's command line (after `--`, or `MCP_PROXY_COMMAND` as a
 * JSON array) and the limits, from the environment. Every `MCP_*` setting may also be given
 * per service as `MCP_<SERVICE>_*` (e.g. `MCP_EVERYTHING_PROXY_MAX_SESSIONS`), which wins:
 * the gateway's `npm start` hands a service only its own `MCP_<SERVICE>_*` variables.
 */
import { EDGE_SECRET_ENV, isLoopbackHost } from '../../shared/edge-guard.ts';

export interface ProxyConfig {
  /** argv of the stdio MCP server; `node` means the Node running the proxy. */
  command: string[];
  host: string;
  port: number;
  serviceName: string;
  /** Browser origins allowed to call (`*`: any); requests without Origin always pass. */
  allowedOrigins: Set<string> | '*';
  /** Also allow http loopback origins (the proxy listens on loopback, as under `npm start`). */
  allowLoopbackOrigins: boolean;
  /**
   * MCP_EDGE_SECRET: only requests carrying it in X-Gateway-Edge are served (shared/edge-guard.ts).
   * Not read by loadConfig: main.ts reads it with the startup policy (exit 78 when missing).
   */
  edgeSecret?: string;
  maxSessions: number;
  maxSessionsPerUser: number;
  /** Children a user's 2026-07-28 requests are spread over (modern.ts). */
  modernChildrenPerUser: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  maxMessageBytes: number;
  /** Client requests of one session (2026-07-28: of one child) the server has not answered yet. */
  maxPendingRequests: number;
  /** Bytes an event stream may hold unread by its client before it is ended (shared/bounded-stream.ts). */
  maxStreamBufferBytes: number;
  /** How long a child gets after stdin is closed (then SIGTERM), and after SIGTERM (then SIGKILL). */
  killGraceMs: number;
  logLevel: string;
}

export class ConfigError extends Error {}

export const USAGE = `usage: node mcp-services/proxy/src/main.ts -- <command> [args...]
   or: MCP_PROXY_COMMAND='["npx","-y","@modelcontextprotocol/server-everything"]' node mcp-services/proxy/src/main.ts`;

type Env = Record<string, string | undefined>;

/** `MCP_X` read as `MCP_<SERVICE>_X` first, then `MCP_X`. */
function setting(env: Env, name: string): string | undefined {
  const service = env.MCP_SERVICE_NAME;
  if (service) {
    const specific = env[name.replace(/^MCP_/, `MCP_${service.toUpperCase().replaceAll('-', '_')}_`)];
    if (specific !== undefined && specific !== '') return specific;
  }
  const value = env[name];
  return value === '' ? undefined : value;
}

function positive(env: Env, name: string, fallback: number, scale = 1): number {
  const raw = setting(env, name);
  if (raw === undefined) return fallback * scale;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name}: "${raw}" is not a positive number`);
  return value * scale;
}

function wholeNumber(env: Env, name: string, fallback: number): number {
  const value = positive(env, name, fallback);
  if (!Number.isInteger(value)) throw new ConfigError(`${name}: "${setting(env, name)}" is not a whole number`);
  return value;
}

function parseCommand(argv: string[], env: Env): string[] {
  const dashes = argv.indexOf('--');
  const fromArgs = dashes === -1 ? argv : argv.slice(dashes + 1);
  if (fromArgs.length > 0) return fromArgs;
  const raw = setting(env, 'MCP_PROXY_COMMAND');
  if (raw === undefined) throw new ConfigError(`no stdio server command given\n${USAGE}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`MCP_PROXY_COMMAND must be a JSON array of strings, e.g. ["npx","-y","pkg"]`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((s) => typeof s === 'string' && s !== '')) {
    throw new ConfigError(`MCP_PROXY_COMMAND must be a non-empty JSON array of non-empty strings`);
  }
  return parsed as string[];
}

/** The gateway's own origin (PUBLIC_URL, given by the edge and the Compose stack) is always allowed. */
function withPublicOrigin(origins: Set<string> | '*', publicUrl: string | undefined): Set<string> | '*' {
  const origin = publicUrl ? URL.parse(publicUrl)?.origin : undefined;
  if (origins !== '*' && origin && origin !== 'null') origins.add(origin);
  return origins;
}

function parseOrigins(raw: string | undefined): Set<string> | '*' {
  const entries = (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.includes('*')) return '*';
  const origins = new Set<string>();
  for (const entry of entries) {
    const url = URL.parse(entry);
    if (!url || url.origin === 'null') throw new ConfigError(`MCP_ALLOWED_ORIGINS: "${entry}" is not an origin`);
    origins.add(url.origin);
  }
  return origins;
}

export function loadConfig(argv: string[], env: Env): ProxyConfig {
  const host = env.HOST || '127.0.0.1';
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: "${env.PORT}" is not a port`);
  const config: ProxyConfig = {
    command: parseCommand(argv, env),
    host,
    port,
    serviceName: env.MCP_SERVICE_NAME || 'proxy',
    allowedOrigins: withPublicOrigin(parseOrigins(setting(env, 'MCP_ALLOWED_ORIGINS')), env.PUBLIC_URL),
    allowLoopbackOrigins: isLoopbackHost(host),
    maxSessions: positive(env, 'MCP_PROXY_MAX_SESSIONS', 100),
    maxSessionsPerUser: positive(env, 'MCP_PROXY_MAX_SESSIONS_PER_USER', 10),
    modernChildrenPerUser: wholeNumber(env, 'MCP_PROXY_MODERN_CHILDREN', 2),
    idleTimeoutMs: positive(env, 'MCP_PROXY_IDLE_TIMEOUT', 900, 1000),
    requestTimeoutMs: positive(env, 'MCP_PROXY_REQUEST_TIMEOUT', 300, 1000),
    maxMessageBytes: positive(env, 'MCP_PROXY_MAX_MESSAGE_BYTES', 8 * 1024 * 1024),
    maxPendingRequests: wholeNumber(env, 'MCP_PROXY_MAX_PENDING_REQUESTS', 64),
    maxStreamBufferBytes: positive(env, 'MCP_PROXY_MAX_STREAM_BUFFER_BYTES', 16 * 1024 * 1024),
    killGraceMs: positive(env, 'MCP_PROXY_KILL_GRACE', 2, 1000),
    logLevel: setting(env, 'MCP_PROXY_LOG_LEVEL') ?? env.LOG_LEVEL ?? 'info',
  };
  // A stream must be able to hold one whole message, or the largest answers could never pass.
  if (config.maxStreamBufferBytes < config.maxMessageBytes) {
    throw new ConfigError(
      `MCP_PROXY_MAX_STREAM_BUFFER_BYTES (${config.maxStreamBufferBytes}) must be at least MCP_PROXY_MAX_MESSAGE_BYTES (${config.maxMessageBytes})`,
    );
  }
  return config;
}

/**
 * What a child inherits: the proxy's environment without the proxy's own settings, any identity,
 * or the edge secret (a credential for the edge → proxy hop only: a child that had it could pass
 * for the edge to this proxy).
 */
export function childBaseEnv(env: Env): Record<string, string> {
  const service = env.MCP_SERVICE_NAME ? `MCP_${env.MCP_SERVICE_NAME.toUpperCase().replaceAll('-', '_')}_` : '';
  const own = (name: string) =>
    name === 'HOST' ||
    name === 'PORT' ||
    name === EDGE_SECRET_ENV ||
    /^MCP_(PROXY_|ALLOWED_ORIGINS$|USER_|CLIENT_ID$)/.test(name) ||
    (service !== '' &&
      /^(PROXY_|ALLOWED_ORIGINS$|EDGE_SECRET$)/.test(name.slice(service.length)) &&
      name.startsWith(service));
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !own(name)) result[name] = value;
  return result;
}
