/**
 * The chain every request to an MCP service goes through, in order, described once (docs/edge.md
 * "What a service receives"). The in-process edge runs it (edge.ts), and the production edges'
 * configurations are generated from it: Traefik's middlewares (scripts/generate-deploy.ts) and
 * Caddy's handlers (edge/caddy.ts).
 *
 *   cors                 preflights answered at the edge; CORS headers on every answer
 *   strip                client-sent identity and edge headers removed (nobody forges who they are)
 *   forward-auth         the /verify decision: token, audience, admission, scope, Origin policy,
 *                        and a POST's MCP headers held to its body (Mcp-Method, Mcp-Name);
 *                        on 200 its identity headers (and the edge secret) replace the request's
 *   strip                Authorization and Cookie stay at the edge
 *   strip-prefix         `/<service>` removed: the service serves `/mcp`
 * A remote server with an authorization of its own has its own chain (UPSTREAM_CHAIN, below).
 */
import { EDGE_SECRET_HEADER, IDENTITY_HEADERS } from '../../../contracts/headers.ts';
import { MCP_BODY_LIMIT } from './mcp-body.ts';

export { EDGE_SECRET_HEADER, IDENTITY_HEADERS };

/** Headers copied from a 200 /verify answer onto the request (Traefik `authResponseHeaders`). */
export const AUTH_RESPONSE_HEADERS: readonly string[] = [...IDENTITY_HEADERS, EDGE_SECRET_HEADER];

/**
 * CORS for MCP services. MCP clients authenticate with a bearer token, never with cookies (no
 * credentials are allowed), so any origin may read the answers: a browser origin that may not
 * *call* a service is refused by the Origin policy in the /verify decision (MCP transports,
 * "Security Warning"; ALLOWED_ORIGINS), at every edge alike.
 */
export const CORS = {
  allowOrigin: '*',
  allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowHeaders: [
    'Authorization',
    'Content-Type',
    'Accept',
    'Mcp-Session-Id',
    'MCP-Protocol-Version',
    'Last-Event-ID',
    'Mcp-Method',
    'Mcp-Name',
  ],
  exposeHeaders: ['Mcp-Session-Id', 'MCP-Protocol-Version', 'WWW-Authenticate'],
  maxAge: 600,
} as const;

export type ChainStep =
  | { step: 'cors' }
  | { step: 'strip'; name: string; headers: readonly string[] }
  /** Headers removed from the service's answer before the client gets it. */
  | { step: 'strip-answer'; name: string; headers: readonly string[] }
  | {
      step: 'forward-auth';
      /** The middleware's name in Traefik (one per chain: their authResponseHeaders differ). */
      name: string;
      path: '/verify';
      responseHeaders: readonly string[];
      /** Largest /verify answer the edge reads (an OAuth error body is far smaller). */
      maxResponseBodySize: number;
      /**
       * A request's body goes to /verify too (Traefik `forwardBody`), up to this size (larger:
       * refused), so that the decision can hold the MCP headers to it (verify/mcp-headers.ts).
       */
      maxBodySize: number;
    }
  | { step: 'strip-prefix' };

export const CHAIN: readonly ChainStep[] = [
  { step: 'cors' },
  { step: 'strip', name: 'strip-client-identity', headers: AUTH_RESPONSE_HEADERS },
  {
    step: 'forward-auth',
    name: 'mcp-forward-auth',
    path: '/verify',
    responseHeaders: AUTH_RESPONSE_HEADERS,
    maxResponseBodySize: 65_536,
    maxBodySize: MCP_BODY_LIMIT,
  },
  { step: 'strip', name: 'strip-credentials', headers: ['authorization', 'cookie'] },
  { step: 'strip-prefix' },
];

/**
 * The chain of a remote MCP server with an authorization of its own (design: "Remote MCP
 * servers"): the /verify answer's `Authorization` (the upstream's token) replaces the client's —
 * Traefik's forwardAuth deletes each authResponseHeaders header from the request before copying
 * the answer's, so a client's token never passes even if an answer lacked one — and only the
 * Cookie is stripped after it.
 */
export const UPSTREAM_AUTH_RESPONSE_HEADERS: readonly string[] = [...AUTH_RESPONSE_HEADERS, 'authorization'];
/** CHAIN, with those two steps changed, and the server's cookies kept from the client. */
export const UPSTREAM_CHAIN: readonly ChainStep[] = CHAIN.flatMap((step): ChainStep[] => {
  if (step.step === 'forward-auth') {
    return [{ ...step, name: 'mcp-forward-auth-upstream', responseHeaders: UPSTREAM_AUTH_RESPONSE_HEADERS }];
  }
  if (step.step === 'strip' && step.name === 'strip-credentials') {
    return [
      { step: 'strip', name: 'strip-cookie', headers: ['cookie'] },
      // A third party's server does not set cookies on the gateway's origin.
      { step: 'strip-answer', name: 'strip-upstream-cookies', headers: ['set-cookie'] },
    ];
  }
  return [step];
});

/** The chain of a service: its own token to a remote server with an authorization of its own. */
export function chainOf(service: { remote?: { auth?: unknown } }): readonly ChainStep[] {
  return service.remote?.auth ? UPSTREAM_CHAIN : CHAIN;
}

/**
 * A CORS preflight (Fetch standard §3.2.2 / §4.8): OPTIONS with Origin and
 * Access-Control-Request-Method. Answered at the edge, 200, never forwarded.
 */
export function isPreflight(method: string | undefined, headers: Record<string, unknown>): boolean {
  return method === 'OPTIONS' && !!headers.origin && !!headers['access-control-request-method'];
}

/** The preflight answer's headers (as Traefik v3's headers middleware writes them: header.go processCorsHeaders). */
export function preflightHeaders(): Record<string, string> {
  return {
    'access-control-allow-headers': CORS.allowHeaders.join(','),
    'access-control-allow-methods': CORS.allowMethods.join(','),
    'access-control-allow-origin': CORS.allowOrigin,
    'access-control-max-age': String(CORS.maxAge),
    'access-control-expose-headers': CORS.exposeHeaders.join(','),
  };
}

/** The CORS headers added to every other answer, the service's or the edge's. */
export function responseCorsHeaders(): Record<string, string> {
  return {
    'access-control-allow-origin': CORS.allowOrigin,
    'access-control-expose-headers': CORS.exposeHeaders.join(','),
  };
}

/** `Vary: Origin` appended to an answer's Vary (Traefik's addVaryHeader). */
export function withVaryOrigin(vary: string | undefined): string {
  if (!vary) return 'Origin';
  return vary === 'Origin' ? vary : `${vary},Origin`;
}
