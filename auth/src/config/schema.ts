/**
 * The one configuration schema. Every setting the gateway reads is declared here, with its
 * documentation; docs/configuration.md and .env.example are generated from this file
 * (`npm run docs:config`), and a test fails when they are stale.
 */
import { z } from 'zod';

/** A service name (contracts/service-name.ts): the first segment of its path on the one host. */
export { SERVICE_NAME } from '../../../contracts/service-name.ts';

/** Names a service may not take because they are auth paths on the same host. */
export const RESERVED_SERVICE_NAMES = new Set([
  'authorize',
  'token',
  'register',
  'revoke',
  'introspect',
  'jwks',
  'verify',
  'health',
  'metrics',
  'interaction',
  'login',
  'consent',
  'callback',
  'session',
  'userinfo',
  'static',
  'upstream',
]);

export interface SettingDoc {
  /** Environment variable name. */
  env: string;
  /** What it does and how to choose a value. */
  doc: string;
  /** Grouping in the generated reference. */
  group:
    | 'Public address'
    | 'Storage'
    | 'GitHub login'
    | 'OpenID Connect login'
    | 'Users'
    | 'Tokens and clients'
    | 'Security'
    | 'Remote MCP servers'
    | 'Logging';
  /** Shown in .env.example; secrets are never given an example value. */
  example?: string;
  secret?: boolean;
  /** Loud switches that weaken security warn at startup. */
  dangerous?: boolean;
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const seconds = z
  .string()
  .regex(/^\d+$/, 'must be a whole number of seconds')
  .transform((v) => Number.parseInt(v, 10));

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = z
  .string()
  .trim()
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL');

/**
 * Each entry: the zod type of the raw environment string, its default (as a string, exactly as
 * it would be written in .env) and its documentation.
 */
export const settings = {
  PUBLIC_URL: {
    type: url.optional(),
    doc: {
      group: 'Public address',
      doc: 'The one origin clients use for everything (issuer, resource identifiers, pages). No path. Defaults to `https://$BASE_DOMAIN` when BASE_DOMAIN is set, else `http://localhost:$PORT`.',
      example: 'https://mcp.example.com',
    },
  },
  BASE_DOMAIN: {
    type: optionalString,
    doc: {
      group: 'Public address',
      doc: 'The domain Traefik serves and requests a certificate for (production stack).',
      example: 'mcp.example.com',
    },
  },
  ACME_EMAIL: {
    type: optionalString,
    doc: {
      group: 'Public address',
      doc: "E-mail address given to Let's Encrypt for certificate notices (production stack).",
      example: 'admin@example.com',
    },
  },
  HOST: {
    type: z.string().trim().min(1).default('127.0.0.1'),
    doc: {
      group: 'Public address',
      doc: 'Address the gateway listens on. Keep the loopback default unless a proxy in front of it needs another; containers use `0.0.0.0`.',
    },
    default: '127.0.0.1',
  },
  PORT: {
    type: z
      .string()
      .regex(/^\d+$/, 'must be a port number')
      .transform((v) => Number.parseInt(v, 10))
      .refine((v) => v >= 0 && v <= 65535, 'must be between 0 and 65535'),
    default: '8000',
    doc: { group: 'Public address', doc: 'TCP port the gateway listens on (0 picks a free port).' },
  },
  TRUST_PROXY: {
    type: bool,
    default: 'false',
    doc: {
      group: 'Public address',
      doc: 'Trust `X-Forwarded-*` headers from the proxy in front (Traefik). Only set this when nothing but the proxy can reach the auth service.',
    },
  },
  REDIS_URL: {
    type: optionalString.refine(
      (v) => v === undefined || /^rediss?:\/\//.test(v),
      'must be a redis:// or rediss:// URL',
    ),
    doc: {
      group: 'Storage',
      doc: 'Redis connection URL (`redis://:password@host:6379/0`). Unset: everything is kept in memory and lost at restart.',
      example: 'redis://:change-me@redis:6379/0',
      secret: true,
    },
  },
  REDIS_SENTINELS: {
    type: optionalString.refine(
      (v) => v === undefined || v.split(',').every((e) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(e.trim())),
      'must be host:port pairs separated by commas',
    ),
    doc: {
      group: 'Storage',
      doc: "Redis Sentinel: comma-separated `host:port` of the sentinels. The gateway asks them for the current master of REDIS_SENTINEL_NAME, and follows a failover by itself. REDIS_URL then gives only the master's password and database (`redis://:password@sentinel/0`; its host is not used).",
      example: 'sentinel-1:26379,sentinel-2:26379,sentinel-3:26379',
    },
  },
  REDIS_SENTINEL_NAME: {
    type: z.string().trim().min(1),
    default: 'mymaster',
    doc: { group: 'Storage', doc: 'The master name the sentinels monitor (`sentinel monitor <name> …`).' },
  },
  REDIS_SENTINEL_PASSWORD: {
    type: optionalString,
    doc: {
      group: 'Storage',
      doc: "Password of the sentinels themselves (their `requirepass`), when they have one; the master's is in REDIS_URL.",
      secret: true,
    },
  },
  REDIS_CLUSTER_NODES: {
    type: optionalString.refine(
      (v) => v === undefined || v.split(',').every((e) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(e.trim())),
      'must be host:port pairs separated by commas',
    ),
    doc: {
      group: 'Storage',
      doc: 'Redis Cluster: comma-separated `host:port` of some of its nodes; the gateway learns the others from them, and follows failovers and resharding by itself. The password of every node is REDIS_PASSWORD. Instead of REDIS_URL and REDIS_SENTINELS. Keys and limits: docs/storage.md.',
      example: 'redis-1:6379,redis-2:6379,redis-3:6379',
    },
  },
  REDIS_PASSWORD: {
    type: optionalString,
    doc: {
      group: 'Storage',
      doc: "Password of the Compose stack's Redis (`just generate-secrets` writes one); the stack gives the auth service `REDIS_URL=redis://:$REDIS_PASSWORD@redis:6379/0`. `npm start` reads it only with REDIS_CLUSTER_NODES, as the password of every cluster node.",
      secret: true,
    },
  },
  REDIS_KEY_PREFIX: {
    type: z.string().regex(/^[A-Za-z0-9:_-]*$/, 'letters, digits, `:`, `_` and `-` only'),
    default: 'mcpgw:',
    doc: { group: 'Storage', doc: 'Prefix of every Redis key the gateway writes (see docs/storage.md).' },
  },
  GITHUB_CLIENT_ID: {
    type: optionalString,
    doc: {
      group: 'GitHub login',
      doc: 'Client id of the GitHub OAuth app. Its callback URL must be `$PUBLIC_URL/callback/github`.',
      example: 'Iv1.0123456789abcdef',
    },
  },
  GITHUB_CLIENT_SECRET: {
    type: optionalString,
    doc: { group: 'GitHub login', doc: 'Client secret of the GitHub OAuth app.', secret: true },
  },
  GITHUB_BASE_URL: {
    type: url,
    default: 'https://github.com',
    doc: { group: 'GitHub login', doc: 'Where GitHub serves its OAuth pages (change for GitHub Enterprise Server).' },
  },
  GITHUB_API_URL: {
    type: url,
    default: 'https://api.github.com',
    doc: {
      group: 'GitHub login',
      doc: 'GitHub REST API base (GitHub Enterprise Server: `https://HOST/api/v3`).',
    },
  },
  ALLOWED_GITHUB_USERS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: 'Comma-separated GitHub logins allowed in (case-insensitive). `*` allows every GitHub user and must be written explicitly. Any rule of this group admits; with none set, nobody is admitted (but the local user of `npm start`). Checked at login, at every token issuance and on every request to a service.',
      example: 'octocat,hubot',
    },
  },
  OIDC_ISSUER: {
    type: url.optional(),
    doc: {
      group: 'OpenID Connect login',
      doc: 'Issuer of an OpenID Connect provider (Google, Microsoft Entra ID, Okta, Keycloak, Auth0, GitLab…): its `/.well-known/openid-configuration` is read at startup, and again with backoff until it answers. Register the gateway there as a confidential web client with the redirect URI `$PUBLIC_URL/callback/oidc`. Recipes per provider: docs/identity.md.',
      example: 'https://accounts.google.com',
    },
  },
  OIDC_CLIENT_ID: {
    type: optionalString,
    doc: { group: 'OpenID Connect login', doc: 'Client id of the gateway at the OpenID Connect provider.' },
  },
  OIDC_CLIENT_SECRET: {
    type: optionalString,
    doc: {
      group: 'OpenID Connect login',
      doc: 'Client secret of the gateway at the OpenID Connect provider.',
      secret: true,
    },
  },
  OIDC_NAME: {
    type: z.string().trim().min(1).max(40),
    default: 'OpenID Connect',
    doc: {
      group: 'OpenID Connect login',
      doc: 'The label of the login button: "Continue with <name>".',
      example: 'Google',
    },
  },
  OIDC_SCOPES: {
    type: z
      .string()
      .trim()
      .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scopes separated by single spaces'),
    default: 'openid email profile',
    doc: {
      group: 'OpenID Connect login',
      doc: 'Scopes asked of the provider, separated by spaces; must include `openid`. Add the scope that releases the `groups` claim when ALLOWED_GROUPS or MCP_<SERVICE>_ALLOWED_GROUPS name groups (Okta, Keycloak: `groups`).',
    },
  },
  ALLOWED_GITHUB_ORGS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: "Comma-separated GitHub organisations whose members are allowed in. Membership is read with the user's own GitHub token (the login then asks for `read:org`), and looked up again at most every MEMBERSHIP_CACHE_TTL seconds.",
      example: 'my-company',
    },
  },
  ALLOWED_GITHUB_TEAMS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: 'Comma-separated GitHub teams, each `org/team-slug`, whose members are allowed in (as ALLOWED_GITHUB_ORGS).',
      example: 'my-company/platform',
    },
  },
  ALLOWED_EMAILS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: 'Comma-separated e-mail addresses allowed in (case-insensitive), from any provider; only an address the provider says is verified counts.',
      example: 'ada@example.com',
    },
  },
  ALLOWED_EMAIL_DOMAINS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: 'Comma-separated domains (`example.com`, no `@`): everyone whose verified e-mail address is at exactly that domain is allowed in (subdomains are not included).',
      example: 'example.com',
    },
  },
  ALLOWED_GROUPS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Users',
      doc: "Comma-separated groups of the OpenID Connect provider's `groups` claim (exact, case-sensitive) whose members are allowed in.",
      example: 'mcp-users',
    },
  },
  MEMBERSHIP_CACHE_TTL: {
    type: seconds.refine((v) => v >= 1 && v <= 86400, 'must be between 1 and 86400 seconds'),
    default: '300',
    doc: {
      group: 'Users',
      doc: 'At most this many seconds pass between a change of who may use the gateway (a person removed from a GitHub organisation or team, a new login at the provider) and every replica acting on it.',
    },
  },
  ACCESS_TOKEN_LIFETIME: {
    type: seconds.refine((v) => v >= 60 && v <= 86400, 'must be between 60 and 86400 seconds'),
    default: '3600',
    doc: { group: 'Tokens and clients', doc: 'Lifetime of access tokens, in seconds.' },
  },
  REFRESH_TOKEN_LIFETIME: {
    type: seconds.refine((v) => v >= 300, 'must be at least 300 seconds'),
    default: '2592000',
    doc: {
      group: 'Tokens and clients',
      doc: 'Lifetime of refresh tokens (and of the grant behind them), in seconds. Each use rotates the refresh token.',
    },
  },
  REFRESH_TOKEN_REUSE_GRACE: {
    type: seconds.refine((v) => v <= 300, 'must be between 0 and 300 seconds'),
    default: '30',
    doc: {
      group: 'Tokens and clients',
      doc: 'Seconds during which a refresh token just rotated, sent again by the same client with the same scope, gets the same answer as its first use (clients that refresh twice at once or retry a lost answer stay signed in); only the direct predecessor, and only while its successor is unused. After it, reuse revokes the grant. 0: strict rotation.',
    },
  },
  REGISTRATION_LIMIT: {
    type: z
      .string()
      .regex(/^\d+$/, 'must be a whole number')
      .transform((v) => Number.parseInt(v, 10)),
    default: '100',
    doc: {
      group: 'Tokens and clients',
      doc: "Dynamic client registrations (RFC 7591) accepted from one address per hour, counted in storage across replicas; more are answered 429 with Retry-After, and logged once per address and hour. Loopback addresses are not counted (`npm start` on one machine). 0: no limit. The address is the client's as the edge saw it (TRUST_PROXY).",
    },
  },
  CLIENT_LIFETIME: {
    type: seconds,
    default: '7776000',
    doc: {
      group: 'Tokens and clients',
      doc: 'How long a dynamically registered client stays registered, in seconds; 0 means it never expires.',
    },
  },
  SESSION_LIFETIME: {
    type: seconds.refine((v) => v >= 60, 'must be at least 60 seconds'),
    default: '86400',
    doc: {
      group: 'Tokens and clients',
      doc: 'How long a browser stays logged in at the gateway, in seconds (it still sees a consent page for each new client).',
    },
  },
  SIGNING_KEY: {
    type: optionalString,
    doc: {
      group: 'Security',
      doc: 'RS256 private key (PKCS#8 PEM, `\\n` for newlines allowed) that signs access tokens. Unset: a key is generated on first start and kept in storage. See docs/keys.md for rotation.',
      secret: true,
    },
  },
  COOKIE_SECRETS: {
    type: optionalString,
    doc: {
      group: 'Security',
      doc: 'Comma-separated secrets (at least 32 characters each) that sign cookies, newest first. Unset: one is generated on first start and kept in storage.',
      secret: true,
    },
  },
  EDGE_SECRET: {
    type: optionalString,
    doc: {
      group: 'Security',
      doc: "At least 32 characters. Each MCP service gets a secret derived from it (HMAC-SHA256 with its name) that only requests passing the edge carry (header `X-Gateway-Edge`, added from /verify's answer): a request that reaches a service any other way is refused. Required by the Compose stack (`just generate-secrets` writes it; `just` derives each service's secret); unset under `npm start`, a random one is used for that run.",
      secret: true,
    },
  },
  ALLOWED_ORIGINS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Security',
      doc: "Comma-separated browser origins (`https://app.example.com`) allowed to call MCP services: CORS, and the Origin check against DNS rebinding. PUBLIC_URL's origin is always allowed, and loopback origins when PUBLIC_URL is on loopback.",
      example: 'https://inspector.example.com',
    },
  },
  CLIENT_METADATA_ALLOWED_HOSTS: {
    type: z.string().default(''),
    default: '',
    doc: {
      group: 'Security',
      doc: 'Comma-separated host names whose https Client ID Metadata Documents are accepted; `*` accepts any public host. Empty accepts any public host too.',
    },
  },
  DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS: {
    type: bool,
    default: 'false',
    doc: {
      group: 'Security',
      doc: 'Fetch Client ID Metadata Documents from loopback and private addresses. Only for tests and closed networks: it opens the gateway to server-side request forgery.',
      dangerous: true,
    },
  },
  DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL: {
    type: bool,
    default: 'false',
    doc: {
      group: 'Security',
      doc: 'Allow an `http://` PUBLIC_URL that is not on loopback. Tokens and cookies then cross the network in clear text.',
      dangerous: true,
    },
  },
  UPSTREAM_TOKEN_KEY: {
    type: optionalString.refine((v) => v === undefined || v.length >= 32, 'must be at least 32 characters'),
    doc: {
      group: 'Remote MCP servers',
      doc: 'At least 32 characters. Seals the tokens and client registrations the gateway holds at remote MCP servers (AES-256-GCM with a key derived by HKDF-SHA256). Unset: a key is generated on first start and kept in storage, like the signing key. Changing it makes every held upstream token unreadable: users authorize those servers again.',
      secret: true,
    },
  },
  LOG_LEVEL: {
    type: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: { group: 'Logging', doc: 'pino log level.' },
  },
  LOG_FORMAT: {
    type: z.enum(['auto', 'json', 'pretty']),
    default: 'auto',
    doc: {
      group: 'Logging',
      doc: '`json`: one JSON object per line (pino), for containers and log collectors. `pretty`: readable lines with colours (pino-pretty). `auto`: `pretty` when the output is a terminal, `json` otherwise.',
    },
  },
} satisfies Record<string, { type: z.ZodType; default?: string; doc: Omit<SettingDoc, 'env'> }>;

export type SettingName = keyof typeof settings;

/**
 * MCP_<SERVICE>_ENABLED (docs/configuration.md): the service name upper-cased with `-` as `_`. Service
 * names have no `_`, so the mapping back is unambiguous. The pattern takes any middle part so
 * that a switch naming an invalid service is reported (load.ts), not silently ignored.
 */
export const SERVICE_SWITCH = /^MCP_(.+)_ENABLED$/;
export const serviceSwitchName = (service: string): string =>
  `MCP_${service.toUpperCase().replaceAll('-', '_')}_ENABLED`;
export const serviceScopesName = (service: string): string =>
  `MCP_${service.toUpperCase().replaceAll('-', '_')}_SCOPES`;
export const serviceCommandName = (service: string): string =>
  `MCP_${service.toUpperCase().replaceAll('-', '_')}_COMMAND`;
export const serviceUrlName = (service: string): string => `MCP_${service.toUpperCase().replaceAll('-', '_')}_URL`;

/** MCP_<SERVICE>_<SUFFIX>: the per-service settings below. */
export const serviceSettingName = (service: string, suffix: string): string =>
  `MCP_${service.toUpperCase().replaceAll('-', '_')}_${suffix}`;

/** MCP_<S>_AUTH (design: "Remote MCP servers and their own authorization"). */
export const UPSTREAM_AUTH_MODES = ['none', 'user', 'client_credentials'] as const;
export type UpstreamAuthMode = (typeof UPSTREAM_AUTH_MODES)[number];
/** MCP_<S>_TOKEN_AUTH_METHOD: RFC 8414 §2 / RFC 7591 §2 names (RFC 7523, RFC 8705 for the last two). */
export const TOKEN_AUTH_METHODS = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'tls_client_auth',
  'none',
] as const;

/**
 * The settings of a remote MCP server (`MCP_<S>_URL`), per service: read by config/upstream.ts,
 * documented from here (docs/configuration.md "Remote MCP servers", and docs/upstreams.md).
 */
export const REMOTE_SERVICE_SETTINGS: readonly {
  suffix: string;
  default?: string;
  secret?: boolean;
  /** Only meaningful with MCP_<S>_AUTH (user or client_credentials): set without it, a mistake. */
  withAuth?: boolean;
  doc: string;
}[] = [
  {
    suffix: 'AUTH',
    default: 'none',
    doc: "`none`: the server needs no token of its own (your own server behind the gateway). `user`: each user authorizes the server once, after the gateway's own consent (authorization code with PKCE and `resource`); the gateway keeps and refreshes a token per user. `client_credentials`: one machine token for the service (RFC 6749 §4.4), cached and refreshed ahead of expiry.",
  },
  {
    suffix: 'CLIENT_ID',
    withAuth: true,
    doc: "A client registered at the server's authorization server. Needed for `client_credentials` and for servers without metadata; otherwise, for `user`, the gateway uses a Client ID Metadata Document (`$PUBLIC_URL/.well-known/oauth-client/<service>`) where the server takes them, or registers itself (RFC 7591) and keeps the registration.",
  },
  {
    suffix: 'CLIENT_SECRET',
    withAuth: true,
    secret: true,
    doc: "The client's secret (client_secret_basic, or client_secret_post).",
  },
  {
    suffix: 'CLIENT_KEY',
    withAuth: true,
    doc: 'Path of a PEM private key file (RSA, or EC P-256/P-384/P-521): the client authenticates with a signed JWT (`private_key_jwt`, RFC 7523), the algorithm following the key.',
  },
  {
    suffix: 'CLIENT_CERT',
    withAuth: true,
    doc: 'Path of a PEM client certificate, with `MCP_<SERVICE>_CLIENT_CERT_KEY` (its private key file): mutual TLS at the token endpoint (`tls_client_auth`, RFC 8705).',
  },
  { suffix: 'CLIENT_CERT_KEY', withAuth: true, doc: 'Path of the PEM private key of `MCP_<SERVICE>_CLIENT_CERT`.' },
  {
    suffix: 'CA',
    doc: "Path of a PEM CA certificate that signed the server's (and its token endpoint's) TLS certificate, when it is not publicly trusted.",
  },
  {
    suffix: 'TOKEN_AUTH_METHOD',
    withAuth: true,
    doc: 'How the client authenticates at the token endpoint: `client_secret_basic`, `client_secret_post`, `private_key_jwt`, `tls_client_auth` or `none`. Default: from the credentials given (key: private_key_jwt, certificate: tls_client_auth, secret: client_secret_basic, none: none).',
  },
  {
    suffix: 'SCOPE',
    withAuth: true,
    doc: "Scopes to ask the server for, separated by spaces. Default: the `scope` of the server's challenge, else its protected resource metadata's `scopes_supported`, else none.",
  },
  {
    suffix: 'AUTHORIZATION_URL',
    withAuth: true,
    doc: 'The authorization endpoint, for servers that publish no metadata (a GitHub OAuth app: `https://github.com/login/oauth/authorize`). Set with `MCP_<SERVICE>_TOKEN_URL`; otherwise the endpoints are discovered as the MCP authorization specification says.',
  },
  {
    suffix: 'TOKEN_URL',
    withAuth: true,
    doc: 'The token endpoint, for servers that publish no metadata (GitHub: `https://github.com/login/oauth/access_token`), and for `client_credentials` without discovery.',
  },
  {
    suffix: 'TIMEOUT',
    default: '60',
    doc: 'Seconds the server has to begin its answer (and the authorization server its token answer); after it the client gets a 504 JSON-RPC error naming the service.',
  },
  {
    suffix: 'IDENTITY_HEADERS',
    doc: "Send the `X-User-*` identity headers to the server. Default: true without `MCP_<SERVICE>_AUTH` (your own server), false with it (a third party's server learns who the user is from its own token).",
  },
];

/** Per service: who among the admitted may use it (design: "Identity providers and who may use what"). */
export const SERVICE_RULE_SETTINGS: readonly { suffix: 'ALLOWED_USERS' | 'ALLOWED_GROUPS'; doc: string }[] = [
  {
    suffix: 'ALLOWED_USERS',
    doc: 'Comma-separated users who may use this service, among those the gateway admits: a GitHub login (or `local`), a verified e-mail address (any provider), or a user id (`oidc:<sub>`, `github:<id>`). With MCP_<SERVICE>_ALLOWED_GROUPS, either admits.',
  },
  {
    suffix: 'ALLOWED_GROUPS',
    doc: "Comma-separated groups whose members may use this service: a GitHub organisation (`org`) or team (`org/team-slug`), or a group of the OpenID Connect provider's `groups` claim.",
  },
];
