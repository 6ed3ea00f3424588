/**
 * Traefik's dynamic configuration, from the route table (auth/src/edge/routes.ts) and the chain
 * (auth/src/edge/chain.ts):
 *   - middlewares.yml (file provider): the chain's middlewares, the rate limits, the security
 *     headers of every answer;
 *   - auth-routes.yml (file provider): one router per AUTH_ROUTES entry, to http://auth:8080;
 *   - each MCP service's router: labels of its own container (docker provider), so that only a
 *     running service is routed.
 * INTERNAL_ROUTES get no router: Traefik answers 404 there (no rule matches).
 * Docs: doc.traefik.io/traefik/v3.6/reference/routing-configuration/http/ (routers, middlewares).
 */
import {
  AUTH_ROUTES,
  INTERNAL_ROUTES,
  serviceRoutes,
  type AuthRoute,
  type MatchKind,
} from '../../auth/src/edge/routes.ts';
import { CHAIN, CORS, UPSTREAM_CHAIN, type ChainStep } from '../../auth/src/edge/chain.ts';
import {
  AUTH_URL,
  CHAIN_MIDDLEWARE,
  ENTRY_POINT,
  PRIORITY,
  SERVICE_PORT,
  networkName,
  serviceNetwork,
  serviceRouter,
  serviceStripPrefix,
} from './topology.ts';

type Yaml = Record<string, unknown>;

/**
 * The host rule. File provider: a Go template (Traefik renders `{{ env "…" }}` in dynamic files,
 * pkg/provider/file, sprig's `env`); labels: Compose interpolation. Both read BASE_DOMAIN from .env.
 */
export const FILE_HOST = 'Host(`{{ env "BASE_DOMAIN" }}`)';
export const LABEL_HOST = 'Host(`${BASE_DOMAIN}`)';

/** Per client IP (the source criterion's default: the connection's address, the client's own at the edge). */
export const RATE_LIMITS: Record<
  NonNullable<AuthRoute['rateLimit']>,
  { average: number; period: string; burst: number }
> = {
  register: { average: 10, period: '1m', burst: 20 },
  token: { average: 60, period: '1m', burst: 60 },
};
export const rateLimitMiddleware = (limit: string): string => `ratelimit-${limit}`;

/** On every router of the entry point (traefik.yml `http.middlewares`). */
export const SECURITY_HEADERS = 'security-headers';

/** Go's http.CanonicalHeaderKey, as Traefik spells header names. */
export const canonicalHeader = (name: string): string =>
  name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());

/** The Traefik middleware of one chain step (strip-prefix is per service: serviceLabels). */
function stepMiddleware(step: Exclude<ChainStep, { step: 'strip-prefix' }>): [string, Yaml] {
  switch (step.step) {
    // Traefik's headers middleware (pkg/middlewares/headers): answers preflights itself, adds
    // Access-Control-* and `Vary: Origin` to every other answer, the refusals of /verify included.
    case 'cors':
      return [
        'mcp-cors',
        {
          headers: {
            accessControlAllowOriginList: [CORS.allowOrigin],
            accessControlAllowMethods: [...CORS.allowMethods],
            accessControlAllowHeaders: [...CORS.allowHeaders],
            accessControlExposeHeaders: [...CORS.exposeHeaders],
            accessControlMaxAge: CORS.maxAge,
            addVaryHeader: true,
          },
        },
      ];
    // customResponseHeaders with an empty value deletes the header from the answer.
    case 'strip-answer':
      return [
        step.name,
        { headers: { customResponseHeaders: Object.fromEntries(step.headers.map((h) => [canonicalHeader(h), ''])) } },
      ];
    // customRequestHeaders with an empty value deletes the header from the request.
    case 'strip':
      return [
        step.name,
        { headers: { customRequestHeaders: Object.fromEntries(step.headers.map((h) => [canonicalHeader(h), ''])) } },
      ];
    // docs/edge.md "The decision". trustForwardHeader true: the entry point already deleted every
    // client-sent X-Forwarded-* (forwardedHeaders, no trusted IPs), so the X-Forwarded-* /verify gets
    // are Traefik's own (migration notes v3.6.14: configure trust at the entry point, set true here).
    // No authRequestHeaders: every header goes to /verify. maxResponseBodySize bounds what is read.
    // forwardBody: /verify holds a POST's Mcp-Method and Mcp-Name to its body (docs/edge.md); a
    // body over maxBodySize is refused (401) before /verify is asked.
    case 'forward-auth':
      return [
        step.name,
        {
          forwardAuth: {
            address: `${AUTH_URL}${step.path}`,
            trustForwardHeader: true,
            authResponseHeaders: step.responseHeaders.map(canonicalHeader),
            maxResponseBodySize: step.maxResponseBodySize,
            forwardBody: true,
            maxBodySize: step.maxBodySize,
          },
        },
      ];
  }
}

/** The chain's middlewares in order (all but strip-prefix, which must come last). */
export function chainMiddlewares(chain: readonly ChainStep[] = CHAIN): [string, Yaml][] {
  const last = chain.at(-1);
  if (last?.step !== 'strip-prefix' || chain.filter((s) => s.step === 'strip-prefix').length !== 1) {
    throw new Error('chain.ts: strip-prefix must be the last step, once (the service router adds it)');
  }
  return chain.filter((s) => s.step !== 'strip-prefix').map(stepMiddleware);
}

/** The chain middleware of a remote MCP server with an authorization of its own (chain.ts UPSTREAM_CHAIN). */
export const UPSTREAM_CHAIN_MIDDLEWARE = 'mcp-chain-upstream';

export function middlewaresFile(): Yaml {
  const chain = chainMiddlewares();
  const upstream = chainMiddlewares(UPSTREAM_CHAIN);
  const definitions = new Map<string, Yaml>();
  for (const [name, definition] of [...chain, ...upstream]) {
    const known = definitions.get(name);
    if (known && JSON.stringify(known) !== JSON.stringify(definition)) {
      throw new Error(`chain.ts: two different middlewares named ${name}`);
    }
    definitions.set(name, definition);
  }
  return {
    http: {
      middlewares: {
        [CHAIN_MIDDLEWARE]: { chain: { middlewares: chain.map(([name]) => name) } },
        [UPSTREAM_CHAIN_MIDDLEWARE]: { chain: { middlewares: upstream.map(([name]) => name) } },
        ...Object.fromEntries(definitions),
        [SECURITY_HEADERS]: {
          headers: { stsSeconds: 31536000, contentTypeNosniff: true, referrerPolicy: 'no-referrer' },
        },
        ...Object.fromEntries(
          Object.entries(RATE_LIMITS).map(([limit, rate]) => [rateLimitMiddleware(limit), { rateLimit: rate }]),
        ),
      },
    },
  };
}

/** Comments above the middlewares of middlewares.yml. */
export function middlewareComments(): [string[], string][] {
  const at = (name: string): string[] => ['http', 'middlewares', name];
  const [cors, identity, forwardAuth, credentials] = chainMiddlewares().map(([name]) => name);
  return [
    [at(CHAIN_MIDDLEWARE), 'auth/src/edge/chain.ts CHAIN, in order; the local edge of `npm start` runs the same.'],
    [
      at(cors!),
      'First, so that the refusals of the next steps carry CORS headers too and a browser-based client can read ' +
        'the challenge. Answers CORS preflights itself (200); any other OPTIONS goes on to /verify.',
    ],
    [at(identity!), 'Before ForwardAuth: a client can never forge who it is, nor the edge secret.'],
    [
      at(forwardAuth!),
      'The /verify contract (docs/edge.md): GET, no body, every client header plus X-Forwarded-Method, -Proto, ' +
        '-Host, -Uri, -For. A 2xx answer lets the request through with authResponseHeaders copied onto it ' +
        '(each first removed from the request); any other answer goes back to the client unchanged.',
    ],
    [at(credentials!), 'After ForwardAuth: the bearer token and any cookie stay at the edge.'],
    [
      at(UPSTREAM_CHAIN_MIDDLEWARE),
      'auth/src/edge/chain.ts UPSTREAM_CHAIN: a remote MCP server with OAuth of its own (docs/upstreams.md). ' +
        "/verify answers with the upstream's Authorization, which replaces the client's (ForwardAuth removes " +
        'each authResponseHeaders header before copying); only the Cookie is stripped after it.',
    ],
    [at(SECURITY_HEADERS), 'On every router of the websecure entry point (traefik.yml). Auth pages set their own CSP.'],
    [at(rateLimitMiddleware('register')), 'Named by auth/src/edge/routes.ts AUTH_ROUTES (rateLimit).'],
  ];
}

const matcher = (match: MatchKind, path: string): string => {
  if (path.includes('`')) throw new Error(`${path}: a backtick cannot be in a rule`);
  return `${match === 'exact' ? 'Path' : 'PathPrefix'}(\`${path}\`)`;
};

export const authRouter = (r: { path: string; match: MatchKind }): string =>
  `auth-${r.path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}-${r.match}`.toLowerCase();

/** Whether two route table entries can match the same path. */
export function overlap(a: { path: string; match: MatchKind }, b: { path: string; match: MatchKind }): boolean {
  if (a.match === 'exact' && b.match === 'exact') return a.path === b.path;
  if (a.match === 'exact') return a.path.startsWith(b.path);
  if (b.match === 'exact') return b.path.startsWith(a.path);
  return a.path.startsWith(b.path) || b.path.startsWith(a.path);
}

/** Routers of the auth paths; none may reach an internal path (routes.ts routes those nowhere). */
export function authRoutesFile(): Yaml {
  const routers: Yaml = {};
  for (const r of AUTH_ROUTES) {
    const internal = INTERNAL_ROUTES.find((i) => overlap(r, i));
    if (internal) throw new Error(`routes.ts: ${r.path} (${r.match}) would route ${internal.path} to auth`);
    const name = authRouter(r);
    if (name in routers) throw new Error(`two auth routers named ${name}`);
    routers[name] = {
      rule: `${FILE_HOST} && ${matcher(r.match, r.path)}`,
      entryPoints: [ENTRY_POINT],
      priority: PRIORITY.auth,
      ...(r.rateLimit ? { middlewares: [rateLimitMiddleware(r.rateLimit)] } : {}),
      service: 'auth',
    };
  }
  return { http: { routers, services: { auth: { loadBalancer: { servers: [{ url: AUTH_URL }] } } } } };
}

/** The labels of an MCP service's container: its router, its strip-prefix, its load balancer. */
export function serviceLabels(name: string): Record<string, string> {
  const routes = serviceRoutes(name);
  for (const r of routes) {
    const taken = [...INTERNAL_ROUTES, ...AUTH_ROUTES].find((o) => overlap(r, o));
    if (taken) throw new Error(`service ${name}: ${r.path} is also ${taken.path} (${taken.serves})`);
  }
  const router = `traefik.http.routers.${serviceRouter(name)}`;
  const service = `traefik.http.services.${serviceRouter(name)}.loadbalancer`;
  return {
    'traefik.enable': 'true',
    // The one network Traefik shares with this container (a container on several networks would
    // otherwise be reached on any of them).
    'traefik.docker.network': networkName(serviceNetwork(name)),
    [`${router}.rule`]: `${LABEL_HOST} && (${routes.map((r) => matcher(r.match, r.path)).join(' || ')})`,
    [`${router}.entrypoints`]: ENTRY_POINT,
    [`${router}.priority`]: String(PRIORITY.service),
    // The chain, then `/<service>` stripped: /verify sees the full path in X-Forwarded-Uri.
    [`${router}.middlewares`]: `${CHAIN_MIDDLEWARE}@file,${serviceStripPrefix(name)}@docker`,
    [`${router}.service`]: serviceRouter(name),
    [`traefik.http.middlewares.${serviceStripPrefix(name)}.stripprefix.prefixes`]: `/${name}`,
    [`${service}.server.port`]: String(SERVICE_PORT),
  };
}
