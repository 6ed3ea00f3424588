/**
 * Reads the environment (after dotenv), validates it against the one schema and derives the
 * runtime configuration. Every problem is collected and reported at once, each with how to
 * fix it: a gateway that stops at the first problem costs the operator one restart per typo.
 */
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import type { z, ZodType } from 'zod';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { serviceEdgeSecret } from '../edge/edge-secret.ts';
import { resolveLogFormat } from '../log.ts';
import { parseRemote, type RemoteConfig } from './upstream.ts';
import { identityArea } from './identity.ts';
import {
  RESERVED_SERVICE_NAMES,
  SERVICE_NAME,
  SERVICE_SWITCH,
  serviceCommandName,
  serviceScopesName,
  serviceSettingName,
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
  /** MCP_<S>_URL: a Streamable HTTP MCP server reached at this URL (the operator's, or a remote one). */
  upstreamUrl?: string;
  /** With MCP_<S>_URL: how it is reached and authorized (config/upstream.ts). */
  remote?: RemoteConfig;
  /** What requests that passed the edge carry to this service (edge/edge-secret.ts). */
  edgeSecret: string;
}

export type { Allowlist, GithubConfig, OidcConfig, GatewayRules, ServiceRules } from './identity.ts';

/**
 * The gateway's configuration: what the areas below return, each from the settings as the schema
 * types them (Settings). Read the areas for what each field means.
 */
export type Config = ReturnType<typeof publicAddress> &
  ReturnType<typeof storage> &
  ReturnType<typeof identityArea> &
  ReturnType<typeof lifetimes> &
  ReturnType<typeof security> & { services: ServiceConfig[] } & ReturnType<typeof logging>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const DEFAULT_SERVICE_SCOPES = ['mcp'];

/** Every setting as its schema parses it: the types come from the zod schema (schema.ts). */
export type Settings = { [K in SettingName]: z.infer<(typeof settings)[K]['type']> };
type Setting = { type: ZodType; default?: string; doc: Omit<SettingDoc, 'env'> };

/**
 * Each setting through its schema. A setting that fails is a problem and stays out of the result;
 * the areas below still run on the rest, so that one run reports every problem, and their result
 * is used only when there is none (loadConfig).
 */
function validateSchema(env: NodeJS.ProcessEnv, problems: string[]): Settings {
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
  // Complete whenever `problems` is empty, the only case in which a Config is returned.
  return raw as Settings;
}

function derivePublicUrl(raw: Settings, problems: string[]): string {
  const explicit = raw.PUBLIC_URL;
  const base = raw.BASE_DOMAIN;
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

const isCommand = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string' && a.length > 0);

/** MCP_<S>_COMMAND (JSON array, or words split on spaces) or MCP_<S>_URL; null after a problem. */
function ownServer(
  env: NodeJS.ProcessEnv,
  name: string,
  problems: string[],
): { command?: string[]; upstreamUrl?: string; remote?: RemoteConfig } | null {
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
  const authName = serviceSettingName(name, 'AUTH');
  const auth = env[authName]?.trim().toLowerCase();
  if (!urlText && auth && auth !== 'none') {
    problems.push(
      `${authName}=${auth}: the gateway authorizes itself only at a remote MCP server; set ${urlName} too.`,
    );
    return null;
  }
  if (urlText) {
    const remote = parseRemote(env, name, urlText, problems);
    return remote ? { upstreamUrl: remote.url, remote } : null;
  }
  if (commandText) {
    let command: unknown;
    try {
      command = commandText.startsWith('[') ? JSON.parse(commandText) : commandText.split(/\s+/);
    } catch {
      command = undefined;
    }
    if (!isCommand(command)) {
      problems.push(
        `${commandName}: write the command as words separated by spaces, or as a JSON array of strings (for arguments with spaces).`,
      );
      return null;
    }
    return { command };
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

// ---- Areas, as the reference groups the settings (docs/configuration.md). Each validates its own
// settings, adds its problems, and returns its part of the Config.

/** Public address: where the gateway is reached and listens. */
function publicAddress(raw: Settings, problems: string[]) {
  return {
    /** Origin without trailing slash, e.g. `https://mcp.example.com`. The issuer. */
    publicUrl: derivePublicUrl(raw, problems),
    host: raw.HOST,
    port: raw.PORT,
    trustProxy: raw.TRUST_PROXY,
  };
}

/** `host:port,host:port` (validated by the schema) as addresses. */
const addresses = (list: string | undefined) =>
  list?.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':') as [string, string];
    return { host, port: Number(port) };
  });

/** Storage: Redis when REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES) is set, memory otherwise. */
function storage(raw: Settings, problems: string[]) {
  const sentinels = addresses(raw.REDIS_SENTINELS);
  const clusterNodes = addresses(raw.REDIS_CLUSTER_NODES);
  if (clusterNodes) {
    if (raw.REDIS_URL) {
      problems.push(
        'REDIS_CLUSTER_NODES and REDIS_URL: set one of them (the nodes of a Redis Cluster, or one Redis); the password of the cluster nodes is REDIS_PASSWORD.',
      );
    }
    if (sentinels) {
      problems.push(
        'REDIS_CLUSTER_NODES and REDIS_SENTINELS: set one of them; a Redis Cluster fails over by itself, without sentinels.',
      );
    }
    return {
      redis: {
        keyPrefix: raw.REDIS_KEY_PREFIX,
        cluster: { nodes: clusterNodes, ...(raw.REDIS_PASSWORD ? { password: raw.REDIS_PASSWORD } : {}) },
      },
    };
  }
  if (!raw.REDIS_URL && !sentinels) return { redis: undefined };
  return {
    redis: {
      url: raw.REDIS_URL ?? 'redis://sentinel',
      keyPrefix: raw.REDIS_KEY_PREFIX,
      ...(sentinels
        ? {
            sentinel: {
              sentinels,
              name: raw.REDIS_SENTINEL_NAME,
              ...(raw.REDIS_SENTINEL_PASSWORD ? { password: raw.REDIS_SENTINEL_PASSWORD } : {}),
            },
          }
        : {}),
    },
  };
}

/** Tokens and clients: lifetimes, in seconds. */
function lifetimes(raw: Settings) {
  return {
    accessTokenLifetime: raw.ACCESS_TOKEN_LIFETIME,
    refreshTokenLifetime: raw.REFRESH_TOKEN_LIFETIME,
    /** REFRESH_TOKEN_REUSE_GRACE, seconds (oidc/refresh-replay.ts). */
    refreshReuseGrace: raw.REFRESH_TOKEN_REUSE_GRACE,
    clientLifetime: raw.CLIENT_LIFETIME,
    /** REGISTRATION_LIMIT: registrations per address per hour (oidc/registration-limit.ts). */
    registrationLimit: raw.REGISTRATION_LIMIT,
    sessionLifetime: raw.SESSION_LIFETIME,
  };
}

/** Security: keys and secrets, who may call, the dangerous switches. */
function security(raw: Settings, problems: string[]) {
  const cookieSecrets = raw.COOKIE_SECRETS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (cookieSecrets?.some((s) => s.length < 32)) {
    problems.push(
      'COOKIE_SECRETS: every secret must be at least 32 characters. Generate one with `just generate-secrets`.',
    );
  }

  const hostList = (raw.CLIENT_METADATA_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const allowedHosts: ReadonlySet<string> | '*' =
    hostList.length === 0 || hostList.includes('*') ? '*' : new Set(hostList);

  const allowedOrigins = new Set<string>();
  for (const entry of (raw.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const url = URL.parse(entry);
    if (!url || url.origin === 'null' || url.pathname !== '/' || url.search || url.hash || url.username) {
      problems.push(`ALLOWED_ORIGINS: "${entry}" is not an origin; write it as scheme://host[:port], without a path.`);
    } else allowedOrigins.add(url.origin);
  }

  const edgeSecret = raw.EDGE_SECRET ?? randomBytes(32).toString('base64url');
  if (edgeSecret.length < 32) {
    problems.push('EDGE_SECRET: must be at least 32 characters. Generate one with `just generate-secrets`.');
  }

  const dangerous = (Object.keys(settings) as SettingName[]).filter((name) => {
    const doc: Omit<SettingDoc, 'env'> = settings[name].doc;
    return doc.dangerous === true && raw[name] === true;
  });
  return {
    signingKeyPem: checkSigningKey(raw.SIGNING_KEY, problems),
    cookieSecrets,
    clientMetadata: { allowedHosts, allowPrivateHosts: raw.DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS },
    /** Browser origins allowed to call services (besides PUBLIC_URL's, and loopback ones on loopback). */
    allowedOrigins: allowedOrigins as ReadonlySet<string>,
    /** EDGE_SECRET, or a random one for this process: the root of every service's edge secret. */
    edgeSecret,
    /** Names of DANGEROUSLY_* switches that are on; each is warned about at startup. */
    dangerous,
    /** UPSTREAM_TOKEN_KEY: seals upstream tokens (upstream/token-vault.ts); unset: generated and stored. */
    upstreamTokenKey: raw.UPSTREAM_TOKEN_KEY,
  };
}

/** Logging. */
function logging(raw: Settings) {
  /** logFormat: LOG_FORMAT resolved against the terminal, what the logger writes. */
  return { logLevel: raw.LOG_LEVEL, logFormat: resolveLogFormat(raw.LOG_FORMAT) };
}

/**
 * The configuration: every area validated, every problem reported at once (ConfigError), in the
 * manner of oauth2-proxy's pkg/validation. Its type is the union of what the areas return.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const raw = validateSchema(env, problems);
  const address = publicAddress(raw, problems);
  const stored = storage(raw, problems);
  const identityAt = problems.length;
  const secured = security(raw, problems);
  const services = parseServices(env, address.publicUrl, secured.edgeSecret, problems);
  // Per-service rules need the services; their problems are reported in the area's place.
  const identityProblems: string[] = [];
  const users = identityArea(
    raw,
    env,
    services.map((s) => s.name),
    address,
    identityProblems,
  );
  problems.splice(identityAt, 0, ...identityProblems);
  if (problems.length) throw new ConfigError(problems);
  return { ...address, ...stored, ...users, ...lifetimes(raw), ...secured, services, ...logging(raw) };
}
