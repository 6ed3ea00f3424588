/**
 * The Caddy edge of `npm run start:caddy`: a real reverse proxy in front of the auth service and
 * the MCP services, configured from the same two descriptions the local edge runs by — the route
 * table (routes.ts) and the chain (chain.ts). `caddyConfig()` writes Caddy's native JSON
 * configuration (Debian's caddy 2.6.2: `forward_auth` is its `reverse_proxy` with a rewrite and a
 * `handle_response`); `startCaddy()` runs `caddy run` with it and relays Caddy's log to ours.
 *
 * Paths. Caddy's `path` matcher lower-cases and cleans the decoded path; the route table is
 * case-sensitive on the normalised path (`normalizeTarget`, Traefik's semantics). So nothing here
 * matches with `path`: every request goes through
 *   1. a guard on the target as sent (`{http.request.orig_uri}`): whatever `normalizeTarget`
 *      refuses (not origin-form, an encoded `/ \ NUL ; % ? #` in the path) is answered 400, as
 *      are a raw `#` and bytes outside printable ASCII (below);
 *   2. normalisation of the escaped path, only when it is not already normal: percent-encodings
 *      rewritten one by one to what `normalizeTarget` makes of them (unreserved characters
 *      decoded, the others upper-cased), then dot segments and empty segments removed;
 *   3. routing by regular expressions, case-sensitive, on the normalised escaped target
 *      (`{http.request.uri}`), in `routeOf`'s order: internal paths, each enabled service, the
 *      auth routes, anything else 404.
 * The backend receives that normalised path, as behind the local edge and Traefik.
 *
 * Where Caddy differs from the local edge (docs/edge.md): a raw `#` in a request target (not
 * allowed by RFC 9112) is refused instead of cut off; characters RFC 3986 does not allow raw in a
 * path (`"<>\^`{|}`) reach the auth service percent-encoded (Go's URL parser re-encodes them); a
 * target with bytes outside printable ASCII is refused with 400 (Node's parser refuses it too).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ContentTooLargeError, ServerError, toWire } from '../errors.ts';
import { BODY_LIMIT } from '../http/normalize.ts';
import { MCP_BODY_LIMIT } from './mcp-body.ts';
import type { Logger } from '../log.ts';
import { X509Certificate } from 'node:crypto';
import { CHAIN, preflightHeaders, responseCorsHeaders, UPSTREAM_CHAIN, withVaryOrigin } from './chain.ts';
import { EDGE_ANSWER_STATUSES, edgeAnswerPath } from '../upstream/edge-answers.ts';
import { jsonRpcError } from '../../../contracts/jsonrpc-error.ts';
import type { Upstream } from './proxy.ts';
import {
  AUTH_ROUTES,
  INTERNAL_ROUTES,
  normalizeTarget,
  ROUTING_ANSWERS,
  serviceRoutes,
  type MatchKind,
} from './routes.ts';

type Json = Record<string, unknown>;

export interface CaddyEdgeOptions {
  /** Where Caddy listens: the gateway's HOST and PORT. */
  listen: { host: string; port: number };
  /** PUBLIC_URL: its scheme is the X-Forwarded-Proto services receive (as behind the local edge). */
  publicUrl: string;
  /** The auth service's own server (its `handler`: /verify and everything else it serves). */
  auth: { host: string; port: number };
  /** Every enabled MCP service, by name, where it listens. */
  services: ReadonlyMap<string, Upstream>;
  /** Caddy's storage (it keeps nothing there without TLS, but must have a place). */
  storageDir: string;
}

// ---- Reading targets as the route table does ------------------------------------------------

/** RE2 literal. */
const quote = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/** A route-table entry as a pattern on the normalised target (path and query). */
export function targetPattern(route: { path: string; match: MatchKind }): string {
  return route.match === 'exact' ? `^${quote(route.path)}(?:\\?|$)` : `^${quote(route.path)}`;
}

const onTarget = (pattern: string): Json => ({ vars_regexp: { '{http.request.uri}': { pattern } } });

const hex2 = (code: number) => code.toString(16).toUpperCase().padStart(2, '0');
/** `4A` → `4A`, `4a`; `2E` → `2E`. */
function spellings(hex: string): string[] {
  const out = new Set(['']);
  for (const c of hex) {
    const forms = /[A-F]/.test(c) ? [c, c.toLowerCase()] : [c];
    for (const prefix of [...out]) {
      out.delete(prefix);
      for (const f of forms) out.add(prefix + f);
    }
  }
  return [...out];
}

/**
 * What `normalizeTarget` does with each percent-encoding, asked of it byte by byte rather than
 * written again: the encodings it refuses, and for every other one its normal form (`%7e` → `~`,
 * `%c3` → `%C3`) wherever some spelling differs from it.
 */
export function percentEncodings(): { refused: string[]; rewrites: { spellings: string[]; to: string }[] } {
  const refused: string[] = [];
  const rewrites: { spellings: string[]; to: string }[] = [];
  for (let code = 0; code < 256; code++) {
    const hex = hex2(code);
    const forms = spellings(hex);
    const targets = forms.map((s) => normalizeTarget(`/a%${s}b`));
    if (targets.every((t) => t === 'rejected')) {
      refused.push(hex);
      continue;
    }
    const normal = targets.map((t) => (t === 'rejected' ? t : t.path.slice(2, -1)));
    if (new Set(normal).size !== 1 || normal[0] === 'rejected') {
      throw new Error(`normalizeTarget reads the spellings of %${hex} differently: ${normal.join(', ')}`);
    }
    const to = normal[0]!;
    const differing = forms.filter((s) => `%${s}` !== to);
    if (differing.length) rewrites.push({ spellings: differing, to });
  }
  return { refused, rewrites };
}

/**
 * Targets refused before any routing (400), read on the target exactly as the client sent it.
 * (A `vars_regexp` on a placeholder is also tried against the text `<nil>`: no pattern here may
 * match that, hence `not` starting with `/` rather than starting with anything else.)
 */
function refusedTarget(refused: string[]): Json[] {
  const encodings = refused.flatMap(spellings).join('|');
  const sent = (pattern: string): Json => ({ vars_regexp: { '{http.request.orig_uri}': { pattern } } });
  return [
    // Not origin-form: `*`, `http://…`.
    { not: [sent('^/')] },
    sent(
      [
        `^[^?]*%(?:${encodings})`, // an encoded reserved character in the path
        '#', // a raw fragment: not part of an HTTP request target (RFC 9112 §3.2)
        '[^\\x21-\\x7E]', // bytes outside printable ASCII
      ].join('|'),
    ),
  ];
}

/** The escaped path is not normal yet: a percent-encoding, an empty segment or a dot segment. */
const NOT_NORMAL = '^[^?]*(?:%|//|/\\.\\.?(?:/|\\?|$))';

/** Go regexp replacement text: `$` is special. */
const literal = (s: string) => s.replaceAll('$', '$$$$');

/** The handlers that bring the escaped path to `normalizeTarget`'s form. */
function normalisation(rewrites: { spellings: string[]; to: string }[]): Json[] {
  return [
    {
      // On the escaped path (Caddy's `path_regexp` rewrite), in order: each encoding to its
      // normal form, then a trailing `/.` or `/..` given the slash normalizeTarget keeps.
      handler: 'rewrite',
      path_regexp: [
        ...rewrites.map((r) => ({ find: `%(?:${r.spellings.join('|')})`, replace: literal(r.to) })),
        { find: '(/\\.\\.?)$', replace: '$1/' },
      ],
    },
    {
      // Dot segments and empty segments: Caddy cleans the escaped path (path.Clean, trailing slash
      // kept) before every `uri_substring` replacement; this one replaces nothing (a space is never
      // in a request target), so the cleaning is all it does.
      handler: 'rewrite',
      uri_substring: [{ find: ' ', replace: ' ' }],
    },
  ];
}

// ---- Answers at the edge ----------------------------------------------------------------------

const JSON_TYPE = { 'Content-Type': ['application/json'] };

function answer(status: number | string, body: object, headers: Record<string, string[]> = {}): Json {
  return {
    handler: 'static_response',
    status_code: status,
    headers: { ...JSON_TYPE, ...headers },
    body: JSON.stringify(body),
  };
}

const NOT_FOUND = answer(ROUTING_ANSWERS.notFound.status, ROUTING_ANSWERS.notFound.body);
const BAD_TARGET = answer(ROUTING_ANSWERS.badTarget.status, ROUTING_ANSWERS.badTarget.body);
const UNAVAILABLE = ROUTING_ANSWERS.unavailable;

const asLists = (headers: Record<string, string>): Record<string, string[]> =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));

/** The chain's CORS headers, on answers the edge writes itself for a service. */
const CORS_ON_ERRORS = { ...asLists(responseCorsHeaders()), Vary: [withVaryOrigin(undefined)] };

/** `x-user-id` → `X-User-Id` (Go's canonical form, the key of Caddy's header placeholders). */
const canonical = (name: string) =>
  name
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join('-');

// ---- The configuration ------------------------------------------------------------------------

function dial(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Upstream connections idle for longer are closed by Caddy first: below Node's default
 * keep-alive timeout (5 s) of any backend, so that Caddy never reuses a connection the backend is
 * closing (a POST lost that way is not retried).
 */
const TRANSPORT = { protocol: 'http', keep_alive: { idle_timeout: '4s', max_idle_conns_per_host: 32 } };

function proxyTo(upstream: { host: string; port: number }, extra: Json = {}): Json {
  return {
    handler: 'reverse_proxy',
    upstreams: [{ dial: dial(upstream.host, upstream.port) }],
    transport: TRANSPORT,
    ...extra,
  };
}

/**
 * A request with a body, to a backend: the body is read whole (at most `limit` bytes) before it
 * is sent on. Not for memory's sake. In Caddy 2.6 (Go 1.19) the proxy reads the client's body once
 * more after sending it, to see it end; Go's server closes that body as soon as the answer's
 * headers go out (at once for an event stream). When the backend answers first, that last read
 * fails, the proxy drops its connection to the backend, and the answer is cut short: an MCP call
 * answered by an empty event stream (about one run in two of the conformance suite, before).
 * `limit` is above the backend's own limit, so that the backend still refuses what it refuses; a
 * larger declared body is refused here (413).
 */
function bounded(proxy: Json, limit: number, tooLarge: Json): Json {
  return {
    handler: 'subroute',
    routes: [
      {
        match: [
          {
            expression: `{http.request.header.Content-Length} != '' && int({http.request.header.Content-Length}) > ${limit}`,
          },
        ],
        handle: [tooLarge],
        terminal: true,
      },
      // No `max_buffer_size`: with one, Caddy 2.6 takes a body shorter than it for a longer one
      // and streams it after all. `request_body` bounds what is read instead.
      {
        handle: [
          { handler: 'request_body', max_size: limit },
          { ...proxy, buffer_requests: true },
        ],
      },
    ],
  };
}

/** Above the stdio proxy's default message limit (MCP_PROXY_MAX_MESSAGE_BYTES, 8 MiB). */
/** Above the auth service's (oidc-provider's) body limit. */
const AUTH_BODY = 1024 * 1024 + BODY_LIMIT;

/** Marks where a request is, for the error routes (an unreachable /verify or service). */
const at = (step: string): Json => ({ handler: 'vars', gateway_step: step });

/** PEM certificates as Caddy 2.6's `root_ca_pool` takes them: base64 DER. */
function derPool(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) =>
    new X509Certificate(m[0]).raw.toString('base64'),
  );
}

/**
 * A remote MCP server (MCP_<S>_URL, not the operator's own): its Host and TLS name, its trust
 * (MCP_<S>_CA), MCP_<S>_TIMEOUT for its answer to begin, its cookies withheld, and its 401, 502
 * and 504 answered by the auth service (upstream/edge-answers.ts), as Traefik's errors middleware
 * does; Caddy's own failures to reach it go there too (the `remote` error route).
 */
function remoteProxy(name: string, upstream: Upstream, auth: { host: string; port: number }): Json {
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  const hostport = upstream.port === (upstream.tls ? 443 : 80) ? host : `${host}:${upstream.port}`;
  return proxyTo(upstream, {
    transport: {
      ...TRANSPORT,
      response_header_timeout: `${upstream.remote!.timeoutMs}ms`,
      ...(upstream.tls
        ? {
            tls: {
              ...(/^[\d.]+$|:/.test(upstream.host) ? {} : { server_name: upstream.host }),
              ...(upstream.tls.ca ? { root_ca_pool: derPool(upstream.tls.ca) } : {}),
            },
          }
        : {}),
    },
    // Its own challenges name its own authorization server: withheld (a 401 is answered by the
    // auth service below, with the gateway's).
    headers: { request: { set: { Host: [hostport] } }, response: { delete: ['WWW-Authenticate'] } },
    handle_response: [
      {
        match: { status_code: [...EDGE_ANSWER_STATUSES] },
        routes: [{ handle: [edgeAnswer(name, '{http.reverse_proxy.status_code}', auth)] }],
      },
    ],
  });
}

/** The auth service's answer for a remote server's status (upstream/edge-answers.ts), with the request's headers. */
function edgeAnswer(name: string, status: string, auth: { host: string; port: number }): Json {
  return proxyTo(auth, { rewrite: { method: 'GET', uri: edgeAnswerPath(name, status) } });
}

/** The chain (chain.ts) for one service, as Caddy handlers. */
function serviceChain(name: string, upstream: Upstream, auth: { host: string; port: number }, proto: string): Json[] {
  const routes: Json[] = [];
  const handlers: Json[] = [];
  for (const step of upstream.remote?.upstreamAuth ? UPSTREAM_CHAIN : CHAIN) {
    switch (step.step) {
      case 'cors':
        // A preflight is answered here, never forwarded (chain.ts isPreflight).
        routes.push({
          match: [
            {
              method: ['OPTIONS'],
              header_regexp: { Origin: { pattern: '.' }, 'Access-Control-Request-Method': { pattern: '.' } },
            },
          ],
          handle: [{ handler: 'static_response', status_code: 200, headers: asLists(preflightHeaders()) }],
          terminal: true,
        });
        // Every other answer — the service's, /verify's refusals — gets the CORS headers and
        // `Origin` in Vary (withVaryOrigin). Deferred header handlers apply innermost first: the
        // third (a Vary present: `,Origin` appended, never twice) runs before the second (none:
        // `Origin`).
        handlers.push(
          { handler: 'headers', response: { set: asLists(responseCorsHeaders()), deferred: true } },
          { handler: 'headers', response: { require: { headers: { Vary: null } }, set: { Vary: ['Origin'] } } },
          {
            handler: 'headers',
            response: {
              require: { headers: { Vary: [] } },
              replace: {
                Vary: [
                  { search_regexp: '^(.+)$', replace: '$1,Origin' },
                  { search_regexp: '^Origin,Origin$', replace: 'Origin' },
                ],
              },
            },
          },
        );
        break;
      case 'strip':
        handlers.push({ handler: 'headers', request: { delete: [...step.headers] } });
        break;
      case 'forward-auth':
        handlers.push(
          at('forward-auth'),
          proxyTo(auth, {
            // GET /verify with the client's headers and no body (Caddy drops it for a GET rewrite).
            rewrite: { method: 'GET', uri: `${step.path}?` },
            headers: {
              request: {
                set: {
                  'X-Forwarded-Method': ['{http.request.method}'],
                  'X-Forwarded-Uri': ['{http.request.uri}'],
                  'X-Forwarded-Proto': [proto],
                },
              },
            },
            handle_response: [
              {
                // 2xx: the request goes on with /verify's headers; any other answer is the
                // client's, as /verify wrote it (with the CORS headers above).
                match: { status_code: [2] },
                routes: [
                  { handle: [{ handler: 'headers', request: { delete: [...step.responseHeaders] } }] },
                  // Each one /verify sent (present, even empty; absent stays absent).
                  ...step.responseHeaders.map((h) => ({
                    match: [{ expression: `{http.reverse_proxy.header.${canonical(h)}} != null` }],
                    handle: [
                      {
                        handler: 'headers',
                        request: { set: { [h]: [`{http.reverse_proxy.header.${canonical(h)}}`] } },
                      },
                    ],
                  })),
                ],
              },
            ],
          }),
        );
        break;
      case 'strip-prefix':
        handlers.push({ handler: 'rewrite', strip_path_prefix: `/${name}` });
        break;
      case 'strip-answer':
        handlers.push({ handler: 'headers', response: { delete: step.headers.map(canonical), deferred: true } });
        break;
    }
  }
  // An operator's own server may serve MCP at another path (proxy.ts upstreamPath).
  if (upstream.path && upstream.path !== '/mcp') {
    handlers.push({ handler: 'rewrite', path_regexp: [{ find: '^/mcp', replace: literal(upstream.path) }] });
  }
  const tooLarge = answer(
    413,
    {
      jsonrpc: '2.0',
      error: { code: -32000, message: `Message too large: at most ${MCP_BODY_LIMIT} bytes` },
      id: null,
    },
    CORS_ON_ERRORS,
  );
  if (upstream.remote) {
    handlers.push({ handler: 'vars', gateway_step: 'remote', gateway_service: name });
    handlers.push(bounded(remoteProxy(name, upstream, auth), MCP_BODY_LIMIT, tooLarge));
    return [...routes, { handle: handlers }];
  }
  handlers.push(
    at('service'),
    // Server-sent events reach the client as they are written: Caddy flushes `text/event-stream`
    // (and any answer of unknown length) at once by itself. Not `flush_interval -1`: in Caddy 2.6
    // that also keeps the request to the service open after the client has gone, so an MCP
    // session's abandoned GET stream would stay open at the service (and the client's next one be
    // refused); without it the service sees the client leave, as behind the local edge.
    bounded(
      proxyTo(upstream, { headers: { request: { set: { 'X-Forwarded-Proto': [proto] } } } }),
      MCP_BODY_LIMIT,
      tooLarge,
    ),
  );
  return [...routes, { handle: handlers }];
}

export function caddyConfig(options: CaddyEdgeOptions): Json {
  const proto = new URL(options.publicUrl).protocol.replace(':', '');
  const { refused, rewrites } = percentEncodings();
  const routes: Json[] = [
    {
      handle: [
        {
          handler: 'headers',
          // Request headers with `_` in their name are dropped, as Traefik's entry point and the
          // local edge do (underscoreHeadersStrategy): backends that read `X_User_Id` as
          // `X-User-Id` would otherwise get what the chain never strips.
          request: { delete: ['*_*'] },
          // No `Server: Caddy` (the local edge names no server either).
          response: { delete: ['Server'] },
        },
      ],
    },
    { match: refusedTarget(refused), handle: [BAD_TARGET], terminal: true },
    { match: [onTarget(NOT_NORMAL)], handle: normalisation(rewrites) },
    ...INTERNAL_ROUTES.map((r) => ({ match: [onTarget(targetPattern(r))], handle: [NOT_FOUND], terminal: true })),
    ...[...options.services].map(([name, upstream]) => ({
      match: serviceRoutes(name).map((r) => onTarget(targetPattern(r))),
      handle: [{ handler: 'subroute', routes: serviceChain(name, upstream, options.auth, proto) }],
      terminal: true,
    })),
    ...AUTH_ROUTES.map((r) => ({
      match: [onTarget(targetPattern(r))],
      handle: [
        bounded(
          proxyTo(options.auth, { headers: { request: { set: { 'X-Forwarded-Proto': [proto] } } } }),
          AUTH_BODY,
          answer(413, toWire(new ContentTooLargeError('the request body is too large')).body),
        ),
      ],
      terminal: true,
    })),
    { handle: [NOT_FOUND], terminal: true },
  ];
  const errors: Json[] = [
    {
      match: [{ vars: { gateway_step: ['forward-auth'] } }],
      handle: [
        answer(UNAVAILABLE.status, UNAVAILABLE.body, {
          ...CORS_ON_ERRORS,
          'Retry-After': [UNAVAILABLE.headers['retry-after']!],
        }),
      ],
      terminal: true,
    },
    {
      // A remote server Caddy could not reach (502) or that did not answer in time (504).
      match: [{ vars: { gateway_step: ['remote'] } }],
      handle: [
        {
          handler: 'subroute',
          routes: [
            {
              match: [{ expression: '{http.error.status_code} == 504' }],
              handle: [edgeAnswer('{http.vars.gateway_service}', '504', options.auth)],
              terminal: true,
            },
            { handle: [edgeAnswer('{http.vars.gateway_service}', '502', options.auth)] },
          ],
        },
      ],
      terminal: true,
    },
    {
      match: [{ vars: { gateway_step: ['service'] } }],
      handle: [answer(502, jsonRpcError(-32000, 'MCP service unavailable'), CORS_ON_ERRORS)],
      terminal: true,
    },
    {
      handle: [answer('{http.error.status_code}', toWire(new ServerError('the gateway could not answer')).body)],
      terminal: true,
    },
  ];
  return {
    admin: { disabled: true, config: { persist: false } },
    storage: { module: 'file_system', root: options.storageDir },
    logging: {
      logs: {
        default: {
          writer: { output: 'stderr' },
          encoder: { format: 'json' },
          level: 'INFO',
        },
      },
    },
    apps: {
      http: {
        // Open streams (SSE) are cut this long after a stop.
        grace_period: '2s',
        servers: {
          gateway: {
            listen: [dial(options.listen.host, options.listen.port)],
            // HTTP/1.1 only, as the local edge: TLS (and with it HTTP/2) is for the production edge.
            protocols: ['h1'],
            automatic_https: { disable: true },
            routes,
            errors: { routes: errors },
          },
        },
      },
    },
  };
}

// ---- Running it -------------------------------------------------------------------------------

/** `caddy` on PATH, or undefined. */
export function findCaddy(path = process.env.PATH ?? ''): string | undefined {
  return onPath('caddy', path);
}

/** An executable `name` on PATH, or undefined. */
function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface RunningCaddy {
  pid: number;
  /** Stops Caddy (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
  stop(): Promise<void>;
}

const LEVELS: Record<string, 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  dpanic: 'error',
  panic: 'fatal',
  fatal: 'fatal',
};

/** Caddy's warnings about what the configuration asks for, and about being stopped. */
const EXPECTED = [
  'admin endpoint disabled',
  'automatic HTTPS is completely disabled',
  'exiting;',
  'shutting down apps, then terminating',
];

/** Where to knock to see Caddy answer: its listen address, or loopback for a wildcard. */
function probeUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}/`;
}

/**
 * Runs `caddy run` with the generated configuration (in a fresh temporary directory, which is
 * also Caddy's HOME, data and config directory) until Caddy answers on the gateway's port.
 * Caddy's log lines go to `logger` (its own start-up notes at debug level). `onExit`: Caddy
 * stopped without being asked.
 */
export async function startCaddy(
  binary: string,
  options: Omit<CaddyEdgeOptions, 'storageDir'>,
  logger: Logger,
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void,
  timeoutMs = 20_000,
): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-caddy-'));
  const storageDir = join(dir, 'data');
  mkdirSync(join(dir, 'config'));
  const file = join(dir, 'caddy.json');
  writeFileSync(file, JSON.stringify(caddyConfig({ ...options, storageDir }), null, 2), { mode: 0o600 });
  // Caddy ends with the gateway however the gateway ends (a SIGKILL included): the kernel kills it
  // when its parent dies (PR_SET_PDEATHSIG, set by util-linux's setpriv, which then runs Caddy in
  // its place). Without setpriv, only an orderly stop ends it.
  const setpriv = onPath('setpriv');
  const argv = [binary, 'run', '--config', file];
  const child = spawn(setpriv ?? binary, setpriv ? ['--pdeathsig', 'KILL', '--', ...argv] : argv.slice(1), {
    cwd: dir,
    // Nothing of the gateway's environment (secrets) but PATH.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      XDG_DATA_HOME: storageDir,
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C in the terminal reaches the gateway, which stops Caddy in
    // its turn (first the edge, then what is behind it).
    detached: true,
  });
  const log = logger.child({ edge: 'caddy' });
  let started = false;
  let stopping = false;
  const recent: string[] = [];
  const relay = (line: string) => {
    if (!line.trim()) return;
    recent.push(line);
    if (recent.length > 20) recent.shift();
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      log.warn({ output: line }, 'caddy output');
      return;
    }
    const { level, msg, ts: _ts, ...fields } = entry;
    const mapped = LEVELS[String(level)] ?? 'info';
    // A client that went away mid-answer (an event stream closed) is nobody's failure.
    const clientLeft = fields.error === 'context canceled';
    // Caddy's start-up and shutdown notes are for debugging (some of them warnings about what
    // this configuration asks for); other warnings and errors are not.
    const at = mapped === 'info' || clientLeft || EXPECTED.some((m) => String(msg).startsWith(m)) ? 'debug' : mapped;
    log[at]({ caddy: fields }, `caddy: ${String(msg)}`);
    if (msg === 'serving initial configuration') started = true;
  };
  createInterface({ input: child.stdout! }).on('line', relay);
  createInterface({ input: child.stderr! }).on('line', relay);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let ready = false;
  void exited.then(([code, signal]) => {
    // While starting, the wait below reports it.
    if (ready && !stopping) onExit(code, signal);
  });

  async function stop(): Promise<void> {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + timeoutMs;
  const url = probeUrl(options.listen.host, options.listen.port);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`caddy exited while starting (${child.exitCode ?? child.signalCode}):\n${recent.join('\n')}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`caddy did not answer on ${url} within ${timeoutMs / 1000} s:\n${recent.join('\n')}`);
    }
    // Caddy has bound its port once it serves its configuration; then it must answer.
    if (started) {
      try {
        await fetch(url, { signal: AbortSignal.timeout(1000) });
        ready = true;
        return { pid: child.pid!, stop };
      } catch {
        // not yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
