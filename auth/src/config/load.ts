/**
 * Reads the environment (after dotenv), validates it against the one schema and derives the
 * runtime configuration. Every problem is collected and reported at once, each with how to
 * fix it: a gateway that stops at the first problem costs the operator one restart per typo.
 */
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import type { ZodType } from 'zod';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { serviceEdgeSecret } from '../edge/edge-secret.ts';
import { resolveLogFormat, type LogFormat } from '../log.ts';
import {
  RESERVED_SERVICE_NAMES,
  SERVICE_NAME,
  SERVICE_SWITCH,
  serviceCommandName,
  serviceScopesName,
  serviceUrlName,
  settings,
  type SettingDoc,
  type SettingName,
} from './schema.ts';

export interface ServiceConfig {
  /** `^[a-z][a-z0-9-]{0,62}$`, the first path segment. */
  name: string;
  /** Exactly `PUBLIC_URL + "/" + name + "/mcp"`: PRM `resource`, token `aud`, what /verify expects. */
  resource: string;
  /** RFC 9728 protected-resource metadata URL of the service. */
  metadataUrl: string;
  /** Scopes a token for this service carries; all are required by /verify. */
  scopes: string[];
  /** MCP_<S>_COMMAND: a stdio MCP server of the operator's, run through the stdio proxy. */
  command?: string[];
  /** MCP_<S>_URL: a Streamable HTTP MCP server of the operator's, reached at this URL. */
  upstreamUrl?: string;
  /** What requests that passed the edge carry to this service (edge/edge-secret.ts). */
  edgeSecret: string;
}

export interface GithubConfig {
  clientId: string;
  clientSecret: string;
  baseUrl: string;
  apiUrl: string;
}

export interface Allowlist {
  /** `*` was written explicitly. */
  everyone: boolean;
  /** Lower-cased, trimmed logins. */
  logins: ReadonlySet<string>;
}

export interface Config {
  /** Origin without trailing slash, e.g. `https://mcp.example.com`. The issuer. */
  publicUrl: string;
  host: string;
  port: number;
  trustProxy: boolean;
  redis?: { url: string; keyPrefix: string };
  github?: GithubConfig;
  allowedGithubUsers: Allowlist;
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
  clientLifetime: number;
  sessionLifetime: number;
  signingKeyPem?: string;
  cookieSecrets?: string[];
  clientMetadata: { allowedHosts: ReadonlySet<string> | '*'; allowPrivateHosts: boolean };
  /** Browser origins allowed to call services (besides PUBLIC_URL's, and loopback ones on loopback). */
  allowedOrigins: ReadonlySet<string>;
  services: ServiceConfig[];
  /** EDGE_SECRET, or a random one for this process: the root of every service's edge secret. */
  edgeSecret: string;
  /** No identity provider configured and listening on loopback: one local user, one-time password. */
  localUser: boolean;
  /** Names of DANGEROUSLY_* switches that are on; each is warned about at startup. */
  dangerous: string[];
  logLevel: string;
  /** LOG_FORMAT resolved against the terminal: what the logger writes. */
  logFormat: LogFormat;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const DEFAULT_SERVICE_SCOPES = ['mcp'];

type Raw = { [K in SettingName]: unknown };
type Setting = { type: ZodType; default?: string; doc: Omit<SettingDoc, 'env'> };

function validateSchema(env: NodeJS.ProcessEnv, problems: string[]): Raw {
  const raw = {} as Record<string, unknown>;
  for (const [name, setting] of Object.entries(settings) as [string, Setting][]) {
    const given = env[name];
    // Empty means unset, as for every optional setting: `PUBLIC_URL=` in .env must not be an error.
    const value = given === undefined || given === '' ? setting.default : given;
    const parsed = setting.type.safeParse(value);
    if (parsed.success) {
      raw[name] = parsed.data;
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      // A secret's value is not repeated: problems end up on the terminal and in logs.
      const shown = setting.doc.secret ? name : `${name}=${JSON.stringify(given)}`;
      problems.push(`${shown}: ${why}. ${setting.doc.doc}`);
    }
  }
  return raw as Raw;
}

function derivePublicUrl(raw: Raw, problems: string[]): string {
  const explicit = raw.PUBLIC_URL as string | undefined;
  const base = raw.BASE_DOMAIN as string | undefined;
  const candidate = explicit ?? (base ? `https://${base}` : `http://localhost:${String(raw.PORT ?? 8000)}`);
  let u: URL;
  try {
    u = new URL(candidate);
  } catch {
    problems.push(`PUBLIC_URL=${JSON.stringify(candidate)}: not a URL. Write it as https://host[:port].`);
    return candidate;
  }
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username || u.password) {
    problems.push(
      `PUBLIC_URL=${JSON.stringify(candidate)}: must be an origin only (no path, query or credentials); the gateway serves everything from the root of one host. Write it as ${u.origin}.`,
    );
  }
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname) && raw.DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL !== true) {
    problems.push(
      `PUBLIC_URL=${JSON.stringify(candidate)}: http is only allowed on loopback. Use https (Traefik terminates TLS), or set DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL=true on a closed network.`,
    );
  }
  // Canonical form: lower-case scheme and host, default port dropped (RFC 3986 §6.2.2).
  return u.origin;
}

function parseAllowlist(text: string): Allowlist {
  const logins = new Set(
    text
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const everyone = logins.delete('*');
  return { everyone, logins };
}

function parseServices(
  env: NodeJS.ProcessEnv,
  publicUrl: string,
  edgeSecret: string,
  problems: string[],
): ServiceConfig[] {
  const services: ServiceConfig[] = [];
  for (const [key, value] of Object.entries(env)) {
    const m = SERVICE_SWITCH.exec(key);
    if (!m?.[1]) continue;
    const flag = (value ?? '').trim().toLowerCase();
    if (!['true', '1', 'yes', 'false', '0', 'no', ''].includes(flag)) {
      problems.push(`${key}=${JSON.stringify(value)}: must be true or false.`);
      continue;
    }
    if (!['true', '1', 'yes'].includes(flag)) continue;
    const name = m[1].toLowerCase().replaceAll('_', '-');
    if (!SERVICE_NAME.test(name)) {
      problems.push(
        `${key}: "${name}" is not a valid service name (lower-case letters, digits and "-", starting with a letter).`,
      );
      continue;
    }
    if (RESERVED_SERVICE_NAMES.has(name)) {
      problems.push(`${key}: "${name}" collides with an auth path of the gateway; choose another service name.`);
      continue;
    }
    const scopesRaw = env[serviceScopesName(name)]?.trim();
    const scopes = scopesRaw ? [...new Set(scopesRaw.split(/[\s,]+/).filter(Boolean))] : DEFAULT_SERVICE_SCOPES;
    const badScope = scopes.find(
      (s) => !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s) || s === 'offline_access' || s === 'openid',
    );
    if (badScope) {
      problems.push(
        `${serviceScopesName(name)}: "${badScope}" is not a usable scope (RFC 6749 §3.3 characters; not openid or offline_access).`,
      );
      continue;
    }
    const own = ownServer(env, name, problems);
    if (own === null) continue;
    const resource = `${publicUrl}/${name}/mcp`;
    services.push({
      ...own,
      name,
      resource,
      // RFC 9728 §3.1: the well-known suffix is inserted between host and path.
      metadataUrl: `${publicUrl}/.well-known/oauth-protected-resource/${name}/mcp`,
      scopes,
      edgeSecret: serviceEdgeSecret(edgeSecret, name),
    });
  }
  return services.sort((a, b) => a.name.localeCompare(b.name));
}

/** MCP_<S>_COMMAND (JSON array, or words split on spaces) or MCP_<S>_URL; null after a problem. */
function ownServer(
  env: NodeJS.ProcessEnv,
  name: string,
  problems: string[],
): { command?: string[]; upstreamUrl?: string } | null {
  const commandName = serviceCommandName(name);
  const urlName = serviceUrlName(name);
  const commandText = env[commandName]?.trim();
  const urlText = env[urlName]?.trim();
  if (commandText && urlText) {
    problems.push(
      `${commandName} and ${urlName}: set one of them (a stdio command, or the URL of an HTTP MCP server).`,
    );
    return null;
  }
  if (urlText) {
    const url = URL.parse(urlText);
    if (!url || url.protocol !== 'http:' || url.search || url.hash) {
      problems.push(
        `${urlName}=${JSON.stringify(urlText)}: must be an http:// URL of a Streamable HTTP MCP endpoint, e.g. http://127.0.0.1:9000/mcp.`,
      );
      return null;
    }
    return { upstreamUrl: url.href };
  }
  if (commandText) {
    let command: unknown;
    try {
      command = commandText.startsWith('[') ? JSON.parse(commandText) : commandText.split(/\s+/);
    } catch {
      command = undefined;
    }
    if (
      !Array.isArray(command) ||
      command.length === 0 ||
      !command.every((a) => typeof a === 'string' && a.length > 0)
    ) {
      problems.push(
        `${commandName}: write the command as words separated by spaces, or as a JSON array of strings (for arguments with spaces).`,
      );
      return null;
    }
    return { command: command as string[] };
  }
  return {};
}

function checkSigningKey(pem: string | undefined, problems: string[]): string | undefined {
  if (!pem) return undefined;
  const text = pem.replaceAll('\\n', '\n');
  try {
    const key = createPrivateKey(text);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < 2048) {
      problems.push(
        'SIGNING_KEY: must be an RSA private key of at least 2048 bits (RS256): `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, or unset it to have one generated and stored.',
      );
    }
  } catch {
    problems.push(
      'SIGNING_KEY: not a PEM private key: `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`, or unset it to have one generated and stored.',
    );
  }
  return text;
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const raw = validateSchema(env, problems);
  const publicUrl = derivePublicUrl(raw, problems);

  let github: GithubConfig | undefined;
  const ghId = raw.GITHUB_CLIENT_ID as string | undefined;
  const ghSecret = raw.GITHUB_CLIENT_SECRET as string | undefined;
  if (ghId && ghSecret) {
    github = {
      clientId: ghId,
      clientSecret: ghSecret,
      baseUrl: String(raw.GITHUB_BASE_URL).replace(/\/+$/, ''),
      apiUrl: String(raw.GITHUB_API_URL).replace(/\/+$/, ''),
    };
  } else if (ghId || ghSecret) {
    problems.push('GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET: set both (from your GitHub OAuth app) or neither.');
  }

  const host = String(raw.HOST ?? '127.0.0.1');
  // The local password login is for one person on one machine: listening on loopback is not
  // enough when PUBLIC_URL says a reverse proxy (Caddy, nginx) brings the network to it.
  const publicHost = URL.canParse(publicUrl) ? new URL(publicUrl).hostname : '';
  const localUser = !github && isLoopbackHost(host) && isLoopbackHost(publicHost);
  if (!github && !localUser) {
    const where = isLoopbackHost(host) ? `PUBLIC_URL=${publicUrl} is not loopback` : `HOST=${host} is not loopback`;
    problems.push(
      `No identity provider is configured and ${where}: nobody could log in, and a local password login must never face a network. Configure GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET, or run on loopback only (HOST=127.0.0.1, PUBLIC_URL empty or http://localhost:<port>).`,
    );
  }

  const cookieSecrets = (raw.COOKIE_SECRETS as string | undefined)
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (cookieSecrets?.some((s) => s.length < 32)) {
    problems.push(
      'COOKIE_SECRETS: every secret must be at least 32 characters. Generate one with `just generate-secrets`.',
    );
  }

  const hostsText = String(raw.CLIENT_METADATA_ALLOWED_HOSTS ?? '').trim();
  const hostList = hostsText
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const allowedHosts = hostList.length === 0 || hostList.includes('*') ? '*' : new Set(hostList);

  const allowedOrigins = new Set<string>();
  for (const entry of String(raw.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const url = URL.parse(entry);
    if (!url || url.origin === 'null' || url.pathname !== '/' || url.search || url.hash || url.username) {
      problems.push(`ALLOWED_ORIGINS: "${entry}" is not an origin; write it as scheme://host[:port], without a path.`);
    } else allowedOrigins.add(url.origin);
  }

  const edgeSecret = (raw.EDGE_SECRET as string | undefined) ?? randomBytes(32).toString('base64url');
  if (edgeSecret.length < 32) {
    problems.push('EDGE_SECRET: must be at least 32 characters. Generate one with `just generate-secrets`.');
  }
  const services = parseServices(env, publicUrl, edgeSecret, problems);
  const signingKeyPem = checkSigningKey(raw.SIGNING_KEY as string | undefined, problems);

  if (problems.length) throw new ConfigError(problems);

  const dangerous = Object.entries(settings)
    .filter(([name, s]) => (s.doc as SettingDoc).dangerous && raw[name as SettingName] === true)
    .map(([name]) => name);

  const redisUrl = raw.REDIS_URL as string | undefined;
  return {
    publicUrl,
    host,
    port: raw.PORT as number,
    trustProxy: raw.TRUST_PROXY as boolean,
    redis: redisUrl ? { url: redisUrl, keyPrefix: raw.REDIS_KEY_PREFIX as string } : undefined,
    github,
    allowedGithubUsers: parseAllowlist(String(raw.ALLOWED_GITHUB_USERS ?? '')),
    accessTokenLifetime: raw.ACCESS_TOKEN_LIFETIME as number,
    refreshTokenLifetime: raw.REFRESH_TOKEN_LIFETIME as number,
    clientLifetime: raw.CLIENT_LIFETIME as number,
    sessionLifetime: raw.SESSION_LIFETIME as number,
    signingKeyPem,
    cookieSecrets,
    clientMetadata: { allowedHosts, allowPrivateHosts: raw.DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS as boolean },
    allowedOrigins,
    services,
    edgeSecret,
    localUser,
    dangerous,
    logLevel: raw.LOG_LEVEL as string,
    logFormat: resolveLogFormat(raw.LOG_FORMAT as string),
  };
}
