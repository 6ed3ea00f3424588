/**
 * The one route table of the gateway's public origin (docs/deployment.md "How requests are routed").
 * Every edge routes by it: the in-process edge of `npm start` (edge.ts) calls `routeOf`; the
 * Traefik configuration of the Compose stack and the Caddy configuration of `npm run
 * start:caddy` are generated from `AUTH_ROUTES`, `INTERNAL_ROUTES` and `serviceRoutes`
 * (scripts/generate-deploy.ts, edge/caddy.ts), and tests fail when they disagree.
 *
 * A path reaches exactly one of:
 *   auth      the auth service (oidc-provider and our pages), as it came;
 *   service   an MCP service, through the chain (chain.ts), `/<service>` stripped;
 *   internal  nothing: /verify, /metrics, /health are for the edge and operators only;
 *   none      nothing either: a 404 at the edge.
 * Routing is on the normalised path (`normalizePath`, Traefik's semantics), never the raw one.
 */

import { SERVICE_NAME_PATTERN } from '../../../contracts/service-name.ts';
import { InvalidRequestError, NotFoundError, TemporarilyUnavailableError, toWire } from '../errors.ts';
export type MatchKind = 'exact' | 'prefix';

export interface AuthRoute {
  path: string;
  match: MatchKind;
  /** What is served there (and who serves it). */
  serves: string;
  /** Rate limit applied by the production edge (traefik/dynamic): registration, token. */
  rateLimit?: 'register' | 'token';
}

/**
 * Every path the auth service answers from outside. oidc-provider's own routes are those of its
 * `lib/helpers/initialize_app.js` for the features enabled in oidc/provider.ts (PAR, device flow,
 * CIBA, logout are off; its `POST /session/end/confirm`, registered whatever the features, belongs
 * to logout and is not routed); tests/unit/routes.test.ts checks this list against the provider's
 * routes by name, its discovery document and the Express app's routes.
 */
export const AUTH_ROUTES: readonly AuthRoute[] = [
  // RFC 8414 §3 and OIDC Discovery §4, and their path-suffixed forms (RFC 8414 §3.1,
  // `/.well-known/oauth-authorization-server/<service>/mcp`) that MCP clients probe first.
  { path: '/.well-known/oauth-authorization-server', match: 'prefix', serves: 'authorization server metadata' },
  { path: '/.well-known/openid-configuration', match: 'prefix', serves: 'OpenID provider metadata' },
  // RFC 9728 §3.1: `/.well-known/oauth-protected-resource/<service>/mcp`, one document per service.
  { path: '/.well-known/oauth-protected-resource', match: 'prefix', serves: 'protected resource metadata' },
  { path: '/authorize', match: 'exact', serves: 'authorization endpoint' },
  // oidc-provider resumes an authorization at GET /authorize/<uid> after login and consent.
  { path: '/authorize/', match: 'prefix', serves: 'authorization resume' },
  { path: '/token', match: 'exact', serves: 'token endpoint', rateLimit: 'token' },
  { path: '/register', match: 'exact', serves: 'RFC 7591 registration', rateLimit: 'register' },
  { path: '/register/', match: 'prefix', serves: 'RFC 7592 client management', rateLimit: 'register' },
  { path: '/revoke', match: 'exact', serves: 'RFC 7009 revocation' },
  { path: '/introspect', match: 'exact', serves: 'RFC 7662 introspection' },
  { path: '/jwks', match: 'exact', serves: 'signing keys' },
  { path: '/userinfo', match: 'exact', serves: 'OIDC UserInfo' },
  { path: '/interaction/', match: 'prefix', serves: 'login and consent pages' },
  { path: '/callback/', match: 'prefix', serves: 'identity provider callbacks' },
  // Remote MCP servers with their own OAuth (upstream/upstreams.ts): their authorization's
  // callback, and the gateway's Client ID Metadata Document for each.
  { path: '/upstream/callback', match: 'exact', serves: 'remote MCP server authorization callback' },
  { path: '/.well-known/oauth-client/', match: 'prefix', serves: 'client ID metadata documents (remote MCP servers)' },
];

/** Never routed from outside, under any spelling: the edge's and operators' endpoints. */
export const INTERNAL_ROUTES: readonly { path: string; match: MatchKind; serves: string }[] = [
  { path: '/verify', match: 'exact', serves: 'the /verify decision (ForwardAuth)' },
  { path: '/verify/', match: 'prefix', serves: 'the /verify decision (ForwardAuth)' },
  { path: '/metrics', match: 'exact', serves: 'Prometheus counters' },
  { path: '/metrics/', match: 'prefix', serves: 'Prometheus counters' },
  { path: '/health', match: 'exact', serves: 'health checks' },
  { path: '/health/', match: 'prefix', serves: 'health checks' },
];

/** The paths of one MCP service: `/<name>/mcp`, a trailing slash accepted (docs/clients.md). */
export function serviceRoutes(name: string): { path: string; match: 'exact' }[] {
  return [
    { path: `/${name}/mcp`, match: 'exact' },
    { path: `/${name}/mcp/`, match: 'exact' },
  ];
}

export type Route =
  | { to: 'auth'; route: AuthRoute }
  | { to: 'service'; service: string; /** The path the service sees (`/mcp` or `/mcp/`). */ rest: string }
  | { to: 'internal' }
  | { to: 'none' };

const matches = (path: string, r: { path: string; match: MatchKind }): boolean =>
  r.match === 'exact' ? path === r.path : path.startsWith(r.path);

const SERVICE_PATH = new RegExp(`^/(${SERVICE_NAME_PATTERN})(/mcp/?)$`);

/** Where a normalised path goes. `services`: the names of the enabled MCP services. */
export function routeOf(path: string, services: { has(name: string): boolean }): Route {
  if (INTERNAL_ROUTES.some((r) => matches(path, r))) return { to: 'internal' };
  const service = SERVICE_PATH.exec(path);
  if (service && services.has(service[1]!)) return { to: 'service', service: service[1]!, rest: service[2]! };
  const auth = AUTH_ROUTES.find((r) => matches(path, r));
  return auth ? { to: 'auth', route: auth } : { to: 'none' };
}

/** What every edge answers where routing ends (edge.ts, caddy.ts), from the one error family. */
export const ROUTING_ANSWERS = {
  /** No route, or an internal one (internal paths are never routed from outside). */
  notFound: toWire(new NotFoundError('no such resource')),
  /** `normalizeTarget` refused the request target. */
  badTarget: toWire(new InvalidRequestError('the request path is not acceptable')),
  /** /verify or storage failed: fail closed (edge.ts, caddy.ts; verify/handler.ts). */
  unavailable: toWire(new TemporarilyUnavailableError('authorization could not be checked')),
} as const;

// ---- How a request path is read (Traefik v3's semantics, docs: security/request-path) ----------
// 1. The path is the request target up to `?`: the query never takes part in routing. A raw `#`
//    anywhere is refused with 400: a fragment is not part of an HTTP request target (RFC 9112
//    §3.2), and Go would read it as part of the path where Node cuts it off.
// 2. Encoded reserved characters (%2F %5C %00 %3B %25 %3F %23) are refused with 400 before any
//    routing (traefik.yml: encodedCharacters, all false).
// 3. Percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT - . _ ~) are decoded,
//    other percent-encodings upper-cased (RFC 3986 §6.2.2.1-2): `/%76erify` is `/verify`.
// 4. `.` and `..` segments and duplicate slashes are removed, a trailing slash kept
//    (sanitizePath, RFC 3986 §5.2.4): `/health/../verify` is `/verify`.
// Routes match this path, and the backend receives this same path (with the query), so no edge
// and no backend can disagree on which path a request is for.

const REJECTED_ENCODINGS = /%(2f|5c|00|3b|25|3f|23)/i;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

export interface RequestTarget {
  /** The normalised path. */
  path: string;
  /** `?…` as sent, or ''. */
  query: string;
}

/** The path an edge routes and forwards, or 'rejected' (400). */
export function normalizeTarget(target: string): RequestTarget | 'rejected' {
  if (target.includes('#')) return 'rejected';
  const end = target.indexOf('?');
  const raw = end === -1 ? target : target.slice(0, end);
  const query = end === -1 ? '' : target.slice(end);
  if (!raw.startsWith('/') || REJECTED_ENCODINGS.test(raw) || /%(?![0-9a-fA-F]{2})/.test(raw)) return 'rejected';
  const normalized = raw.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  const out: string[] = [];
  for (const segment of normalized.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const trailing = /\/\.{0,2}$/.test(normalized) && out.length > 0 ? '/' : '';
  return { path: `/${out.join('/')}${trailing}`, query };
}
