/**
 * Traefik's routes to remote MCP servers (MCP_<SERVICE>_URL in .env, docs/upstreams.md): a remote
 * server has no container, hence no labels, so its router, middlewares, service and servers
 * transport are written to traefik/dynamic/remote-services.yml, which the file provider watches.
 * scripts/compose.ts writes it from .env before every `docker compose` (so `just up` after an edit
 * of .env routes what .env says); it is not committed. Per service S at URL U:
 *   router mcp-S          `/S/mcp`, `/S/mcp/`: the chain (UPSTREAM_CHAIN with MCP_S_AUTH, else CHAIN),
 *                          then mcp-S-answers, mcp-S-withhold, mcp-S-path
 *   mcp-S-withhold        the server's WWW-Authenticate removed (below mcp-S-answers)
 *   mcp-S-answers         errors middleware: the server's 401, 502, 504 (and Traefik's own when it
 *                          cannot reach it or it is too slow) answered by the auth service at
 *                          /verify/upstream/S/{status} (auth/src/upstream/edge-answers.ts), which
 *                          receives the request's headers (Authorization: the upstream token)
 *   mcp-S-path            `/S/mcp…` becomes U's path (replacePathRegex)
 *   service mcp-S         U's origin, its own Host (passHostHeader false), servers transport mcp-S:
 *                          MCP_S_TIMEOUT as responseHeaderTimeout, MCP_S_CA as rootCAs (content)
 * JSON is YAML: the file is written as JSON under a comment, with Node built-ins only (compose.ts
 * runs before any `npm install`). The auth service validates the same settings in full at its start.
 * Docs: doc.traefik.io/traefik/v3.6/reference/routing-configuration/http/middlewares/errorpages/,
 * …/http/load-balancing/serverstransport/.
 */
import { readFileSync } from 'node:fs';
import { chainOf } from '../../auth/src/edge/chain.ts';
import { serviceRoutes } from '../../auth/src/edge/routes.ts';
import { EDGE_ANSWER_STATUSES, edgeAnswerPath } from '../../auth/src/upstream/edge-answers.ts';
import { SERVICE_NAME } from '../../contracts/service-name.ts';
import { UPSTREAM_CHAIN_MIDDLEWARE } from './traefik-config.ts';
import { CHAIN_MIDDLEWARE, ENTRY_POINT, PRIORITY, serviceRouter } from './topology.ts';

type Yaml = Record<string, unknown>;

export const REMOTE_ROUTES_FILE = 'traefik/dynamic/remote-services.yml';

export interface RemoteRoute {
  name: string;
  url: URL;
  upstreamAuth: boolean;
  timeoutSeconds: number;
  /** MCP_<S>_CA's content (PEM). */
  ca?: string;
}

const TRUE = new Set(['true', '1', 'yes']);
/**
 * MCP_<S>_TIMEOUT when unset: the schema's default (auth/src/config/schema.ts, which this file
 * cannot import: it needs zod). tests/deploy/compose.test.ts keeps the two equal.
 */
export const DEFAULT_TIMEOUT_SECONDS = 60;
const setting = (name: string, suffix: string) => `MCP_${name.toUpperCase().replaceAll('-', '_')}_${suffix}`;

/** The remote services an environment enables, and what is wrong with them. */
export function remoteRoutes(env: Record<string, string | undefined>): {
  routes: RemoteRoute[];
  domain: string;
  problems: string[];
} {
  const routes: RemoteRoute[] = [];
  const problems: string[] = [];
  const domain = (env.BASE_DOMAIN ?? '').trim();
  for (const [key, value] of Object.entries(env)) {
    const m = /^MCP_(.+)_ENABLED$/.exec(key);
    if (!m?.[1] || !TRUE.has((value ?? '').trim().toLowerCase())) continue;
    const name = m[1].toLowerCase().replaceAll('_', '-');
    const urlText = env[setting(name, 'URL')]?.trim();
    if (!SERVICE_NAME.test(name) || !urlText) continue;
    const url = URL.parse(urlText);
    if (!url || !/^https?:$/.test(url.protocol)) {
      problems.push(`${setting(name, 'URL')}: not an http(s) URL.`);
      continue;
    }
    const auth = (env[setting(name, 'AUTH')] ?? '').trim().toLowerCase();
    const timeout = (env[setting(name, 'TIMEOUT')] ?? '').trim();
    const caPath = (env[setting(name, 'CA')] ?? '').trim();
    let ca: string | undefined;
    if (caPath) {
      try {
        ca = readFileSync(caPath, 'utf8');
      } catch {
        problems.push(`${setting(name, 'CA')}=${JSON.stringify(caPath)}: cannot be read.`);
      }
    }
    routes.push({
      name,
      url,
      upstreamAuth: auth !== '' && auth !== 'none',
      timeoutSeconds: /^\d+$/.test(timeout) ? Number(timeout) : DEFAULT_TIMEOUT_SECONDS,
      ...(ca ? { ca } : {}),
    });
  }
  // Written into the rule as it is (a JSON file cannot hold the `{{ env "…" }}` template the
  // committed files use): a host name only, nothing a rule could misread.
  if (routes.length && !/^[A-Za-z0-9.-]+$/.test(domain)) {
    problems.push('BASE_DOMAIN: a host name is needed to route the remote MCP servers (docs/deployment.md).');
  }
  return { routes: routes.sort((a, b) => a.name.localeCompare(b.name)), domain, problems };
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Traefik's dynamic configuration for these remote services. */
export function remoteRoutesFile(routes: readonly RemoteRoute[], domain: string): Yaml {
  const routers: Yaml = {};
  const middlewares: Yaml = {};
  const services: Yaml = {};
  const serversTransports: Yaml = {};
  for (const r of routes) {
    const router = serviceRouter(r.name);
    const chain = chainOf({ remote: r.upstreamAuth ? { auth: true } : {} });
    routers[router] = {
      rule: `Host(\`${domain}\`) && (${serviceRoutes(r.name)
        .map((p) => `Path(\`${p.path}\`)`)
        .join(' || ')})`,
      entryPoints: [ENTRY_POINT],
      priority: PRIORITY.service,
      middlewares: [
        r.upstreamAuth ? UPSTREAM_CHAIN_MIDDLEWARE : CHAIN_MIDDLEWARE,
        `${router}-answers`,
        `${router}-withhold`,
        `${router}-path`,
      ].map((m) => (m.startsWith(router) ? m : `${m}@file`)),
      service: router,
    };
    if (chain.at(-1)?.step !== 'strip-prefix') throw new Error('chain.ts: strip-prefix must come last');
    middlewares[`${router}-answers`] = {
      errors: {
        status: EDGE_ANSWER_STATUSES.map(String),
        service: 'auth@file',
        query: edgeAnswerPath(r.name, '{status}'),
      },
    };
    // Below the errors middleware (nearer the server): the server's own challenges, which name its
    // own authorization server, never reach the client (a 403 goes on without one); the gateway's
    // answer for a 401, written by the errors middleware above, keeps its challenge.
    middlewares[`${router}-withhold`] = { headers: { customResponseHeaders: { 'WWW-Authenticate': '' } } };
    // The chain's strip-prefix and the server's own path in one: `/S/mcp…` → `<U's path>…`.
    middlewares[`${router}-path`] = {
      replacePathRegex: { regex: `^/${escapeRegex(r.name)}/mcp`, replacement: r.url.pathname.replaceAll('$', '$$') },
    };
    services[router] = {
      loadBalancer: {
        servers: [{ url: r.url.origin }],
        passHostHeader: false,
        serversTransport: router,
      },
    };
    serversTransports[router] = {
      forwardingTimeouts: { responseHeaderTimeout: `${r.timeoutSeconds}s` },
      ...(r.ca ? { rootCAs: [r.ca] } : {}),
    };
  }
  if (!routes.length) return { http: {} };
  return { http: { routers, middlewares, services, serversTransports } };
}

/** The file's text: a comment, then the configuration as JSON (a YAML flow mapping). */
export function renderRemoteRoutes(routes: readonly RemoteRoute[], domain: string): string {
  return (
    '# Generated by scripts/compose.ts from .env (MCP_<SERVICE>_URL) at every `just` command; not committed.\n' +
    '# docs/upstreams.md explains remote MCP servers; scripts/deploy/remote-routes.ts, this file.\n' +
    `${JSON.stringify(remoteRoutesFile(routes, domain), null, 2)}\n`
  );
}
