/**
 * The Traefik of the Compose stack as a small real HTTP proxy on loopback: it routes with the
 * Traefik model (traefik-model.ts) and executes the generated middleware definitions as Traefik
 * v3.6 does (the Go sources named at each step), in front of real backends. Bodies are buffered
 * (enough for the requests the tests send); nothing is streamed.
 *
 * Entry point (traefik.yml websecure): underscoreHeadersStrategy, forwardedHeaders (no trusted
 * IPs: every client-sent X-Forwarded-* deleted, Traefik's own set), path reading (routes.ts
 * normalizeTarget: 400 for encoded reserved characters), routing (404 when no router matches).
 * Middlewares: headers (CORS, custom request and response headers, the secure headers), forwardAuth,
 * stripPrefix, errors, replacePathRegex; rateLimit lets everything through (not modelled). Services:
 * passHostHeader, a servers transport's responseHeaderTimeout. Any other option fails loudly.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeTarget } from '../../auth/src/edge/routes.ts';
import { loadTraefikModel, type TraefikModel } from './traefik-model.ts';

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Header names lower case (Node's and HTTP's case-insensitivity), every value kept. */
export type Headers = Map<string, string[]>;

export interface ModelRequest {
  method: string;
  /** The routed (normalised) path, then what middlewares make of it. */
  path: string;
  query: string;
  host: string;
  headers: Headers;
  body: Buffer;
  remoteAddress: string;
}

export interface ModelResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

type Handler = (req: ModelRequest) => Promise<ModelResponse>;

const get = (h: Headers, name: string): string | undefined => h.get(name)?.[0];
const set = (h: Headers, name: string, value: string) => h.set(name.toLowerCase(), [value]);
const del = (h: Headers, name: string) => h.delete(name.toLowerCase());
const text = (status: number, body: string): ModelResponse => ({
  status,
  headers: new Map([['content-type', ['text/plain; charset=utf-8']]]),
  body: Buffer.from(body),
});

/** pkg/middlewares/forwardedheaders XHeadersSet, lower case. */
const X_HEADERS = [
  'x-forwarded-proto',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
];
/** Hop-by-hop headers ForwardAuth removes (pkg/middlewares/auth/forward.go hopHeaders). */
const AUTH_HOP_HEADERS = ['connection', 'keep-alive', 'te', 'trailers', 'transfer-encoding', 'upgrade'];
/** Go's httputil.ReverseProxy hopHeaders. */
const PROXY_HOP_HEADERS = [
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

function withoutHop(headers: Headers, hop: string[]): Headers {
  const out = new Map(headers);
  for (const listed of (headers.get('connection') ?? []).flatMap((v) => v.split(',')))
    out.delete(listed.trim().toLowerCase());
  for (const h of hop) out.delete(h);
  return out;
}

const requestHeaders = (req: IncomingMessage): Headers => {
  const h: Headers = new Map();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    h.set(name, [...(h.get(name) ?? []), req.rawHeaders[i + 1]!]);
  }
  return h;
};

const portOf = (host: string): string | undefined => /:(\d+)$/.exec(host)?.[1];

/** An HTTP exchange with a backend, the answer read whole. */
function exchange(url: string, method: string, path: string, headers: Headers, body: Buffer): Promise<ModelResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method,
        path,
        headers: {
          ...Object.fromEntries([...headers].map(([k, v]) => [k, v.length === 1 ? v[0]! : v])),
          // Go's request writer frames a body with its length, whatever the method.
          ...(body.length ? { 'content-length': String(body.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, headers: requestHeaders(res), body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(body.length ? body : undefined);
  });
}

export interface TraefikProxyOptions {
  /** BASE_DOMAIN: the host the routers' rules name. */
  domain: string;
  /** Where the test serves what Traefik reaches as `http://<container>:<port>`: `auth:8080` → URL. */
  backends: Record<string, string>;
  port?: number;
  /** Dynamic files that are not committed (remote-services.yml), by file name. */
  dynamic?: { name: string; text: string }[];
}

export interface TraefikProxy {
  url: string;
  port: number;
  model: TraefikModel;
  stop(): Promise<void>;
}

export async function startTraefikProxy(options: TraefikProxyOptions): Promise<TraefikProxy> {
  const model = loadTraefikModel(options.domain, options.dynamic);
  const entryPoint = model.staticConfig.entryPoints.websecure;
  const forwarded = entryPoint.forwardedHeaders ?? {};
  if (forwarded.insecure || forwarded.trustedIPs?.length)
    throw new Error('only untrusted forwarded headers are modelled');
  const backend = (url: string): string => {
    const target = new URL(url);
    const found = options.backends[target.host];
    // A remote server (remote-services.yml) is reached where it is: the tests' are on loopback.
    if (!found && target.hostname === '127.0.0.1') return target.origin;
    if (!found) throw new Error(`no backend for ${url}`);
    return found;
  };

  /** pkg/middlewares/headers/header.go (CORS, custom headers) and secure.go (the secure headers). */
  function headersMiddleware(cfg: Yaml, next: Handler): Handler {
    const known = [
      'customRequestHeaders',
      'customResponseHeaders',
      'accessControlAllowOriginList',
      'accessControlAllowMethods',
      'accessControlAllowHeaders',
      'accessControlExposeHeaders',
      'accessControlMaxAge',
      'addVaryHeader',
      'stsSeconds',
      'contentTypeNosniff',
      'referrerPolicy',
    ];
    for (const k of Object.keys(cfg)) if (!known.includes(k)) throw new Error(`headers.${k} is not modelled`);
    const origins: string[] = cfg.accessControlAllowOriginList ?? [];
    const cors =
      origins.length > 0 ||
      cfg.accessControlAllowMethods ||
      cfg.accessControlAllowHeaders ||
      cfg.accessControlExposeHeaders;
    const matchOrigin = (origin: string): string | undefined =>
      origins.find((o) => o === origin) ?? (origins.includes('*') ? '*' : undefined);
    const join = (list?: string[]) => (list ?? []).join(',');
    return async (req) => {
      const origin = get(req.headers, 'origin') ?? '';
      const acrm = get(req.headers, 'access-control-request-method') ?? '';
      if (cors && req.method === 'OPTIONS' && origin && acrm) {
        // A preflight: answered here, 200, never forwarded.
        const h: Headers = new Map();
        if (cfg.accessControlAllowHeaders?.length)
          set(h, 'access-control-allow-headers', join(cfg.accessControlAllowHeaders));
        if (cfg.accessControlAllowMethods?.length)
          set(h, 'access-control-allow-methods', join(cfg.accessControlAllowMethods));
        const match = matchOrigin(origin);
        if (match !== undefined) set(h, 'access-control-allow-origin', match);
        if (cfg.accessControlMaxAge !== undefined) set(h, 'access-control-max-age', String(cfg.accessControlMaxAge));
        if (cfg.accessControlExposeHeaders?.length)
          set(h, 'access-control-expose-headers', join(cfg.accessControlExposeHeaders));
        set(h, 'content-length', '0');
        return { status: 200, headers: h, body: Buffer.alloc(0) };
      }
      // An empty value deletes the header.
      for (const [name, value] of Object.entries<string>(cfg.customRequestHeaders ?? {})) {
        if (value === '') del(req.headers, name);
        else set(req.headers, name, value);
      }
      const res = await next(req);
      for (const [name, value] of Object.entries<string>(cfg.customResponseHeaders ?? {})) {
        if (value === '') del(res.headers, name);
        else set(res.headers, name, value);
      }
      if (cfg.contentTypeNosniff) set(res.headers, 'x-content-type-options', 'nosniff');
      if (cfg.referrerPolicy) set(res.headers, 'referrer-policy', cfg.referrerPolicy);
      // stsSeconds: only on a TLS request, and the proxy speaks plain HTTP.
      if (!cors) return res;
      const match = matchOrigin(origin);
      if (match !== undefined) set(res.headers, 'access-control-allow-origin', match);
      if (cfg.accessControlExposeHeaders?.length)
        set(res.headers, 'access-control-expose-headers', join(cfg.accessControlExposeHeaders));
      if (cfg.addVaryHeader) {
        const vary = get(res.headers, 'vary') ?? '';
        if (vary !== 'Origin') set(res.headers, 'vary', vary ? `${vary},Origin` : 'Origin');
      }
      return res;
    };
  }

  /** pkg/middlewares/auth/forward.go, trustForwardHeader set (writeHeader). */
  function forwardAuthMiddleware(cfg: Yaml, next: Handler): Handler {
    const known = [
      'address',
      'trustForwardHeader',
      'authResponseHeaders',
      'maxResponseBodySize',
      'forwardBody',
      'maxBodySize',
    ];
    for (const k of Object.keys(cfg)) if (!known.includes(k)) throw new Error(`forwardAuth.${k} is not modelled`);
    if (cfg.trustForwardHeader !== true) throw new Error('only trustForwardHeader: true is modelled');
    const address = new URL(cfg.address);
    return async (req) => {
      const h = withoutHop(req.headers, AUTH_HOP_HEADERS);
      // Go's request writer sends its own Host, Content-Length and Transfer-Encoding.
      for (const name of ['host', 'content-length', 'transfer-encoding', 'trailer']) h.delete(name);
      set(h, 'host', address.host);
      const prior = h.get('x-forwarded-for');
      set(h, 'x-forwarded-for', prior ? `${prior.join(', ')}, ${req.remoteAddress}` : req.remoteAddress);
      const ifAbsent = (name: string, value: string) => h.has(name) || set(h, name, value);
      ifAbsent('x-forwarded-method', req.method);
      ifAbsent('x-forwarded-proto', 'http');
      ifAbsent('x-forwarded-port', portOf(req.host) ?? '80');
      ifAbsent('x-forwarded-host', req.host);
      ifAbsent('x-forwarded-uri', req.path + req.query);
      // forwardBody: the request's body goes to the auth server too (still a GET), read whole; over
      // maxBodySize (-1, the default: no limit), 401 with no body; the next handler gets it again.
      if (cfg.forwardBody === true && cfg.maxBodySize !== undefined && cfg.maxBodySize >= 0) {
        if (req.body.length > cfg.maxBodySize) return { status: 401, headers: new Map(), body: Buffer.alloc(0) };
      }
      const answer = await exchange(
        backend(address.href),
        'GET',
        address.pathname + address.search,
        h,
        cfg.forwardBody === true ? req.body : Buffer.alloc(0),
      );
      if (cfg.maxResponseBodySize !== undefined && answer.body.length > cfg.maxResponseBodySize) {
        return { status: 401, headers: new Map(), body: Buffer.alloc(0) };
      }
      if (answer.status < 200 || answer.status >= 300) {
        // Returned to the client as it is (hop-by-hop headers aside).
        return { status: answer.status, headers: withoutHop(answer.headers, AUTH_HOP_HEADERS), body: answer.body };
      }
      for (const name of cfg.authResponseHeaders ?? []) {
        del(req.headers, name);
        const values = answer.headers.get(name.toLowerCase());
        if (values?.length) req.headers.set(name.toLowerCase(), [...values]);
      }
      return next(req);
    };
  }

  /** pkg/middlewares/stripprefix/strip_prefix.go (v3.6.19+: 400 when the result is not normalised). */
  function stripPrefixMiddleware(cfg: Yaml, next: Handler): Handler {
    return async (req) => {
      for (const prefix of cfg.prefixes as string[]) {
        if (!req.path.startsWith(prefix)) continue;
        let path = req.path.slice(prefix.length);
        if (path !== '' && !path.startsWith('/')) path = `/${path}`;
        const cleaned = path === '' ? undefined : normalizeTarget(path);
        if (cleaned !== undefined && (cleaned === 'rejected' || cleaned.path !== path))
          return text(400, 'Bad Request\n');
        req.path = path;
        req.headers.set('x-forwarded-prefix', [...(req.headers.get('x-forwarded-prefix') ?? []), prefix]);
        break;
      }
      return next(req);
    };
  }

  /**
   * pkg/middlewares/customerrors/custom_errors.go: an answer whose status is listed is replaced by
   * the error service's answer to GET `query` ({status} filled in) with the request's headers; the
   * status stays the original one, the headers and body are the error service's.
   */
  function errorsMiddleware(cfg: Yaml, next: Handler): Handler {
    const known = ['status', 'service', 'query'];
    for (const k of Object.keys(cfg)) if (!known.includes(k)) throw new Error(`errors.${k} is not modelled`);
    const ranges = (cfg.status as string[]).map((r) => r.split('-').map(Number) as [number, number?]);
    const listed = (code: number) => ranges.some(([a, b]) => code >= a && code <= (b ?? a));
    const service = model.services.get(cfg.service as string);
    if (!service) throw new Error(`errors: no service ${String(cfg.service)}`);
    return async (req) => {
      const res = await next(req);
      if (!listed(res.status)) return res;
      const query = `/${String(cfg.query).replace(/^\//, '')}`.replaceAll('{status}', String(res.status));
      const h = new Map(req.headers);
      // Go's request writer sends its own Host, Content-Length and Transfer-Encoding (a GET, no body).
      for (const name of ['host', 'content-length', 'transfer-encoding', 'trailer']) h.delete(name);
      set(h, 'host', req.host);
      const page = await exchange(backend(service.url), 'GET', query, h, Buffer.alloc(0));
      return { status: res.status, headers: withoutHop(page.headers, PROXY_HOP_HEADERS), body: page.body };
    };
  }

  /** pkg/middlewares/replacepathregex: the path rewritten, the original kept in X-Replaced-Path. */
  function replacePathRegexMiddleware(cfg: Yaml, next: Handler): Handler {
    const re = new RegExp(cfg.regex as string);
    return async (req) => {
      if (re.test(req.path)) {
        set(req.headers, 'x-replaced-path', req.path);
        req.path = req.path.replace(re, cfg.replacement as string);
      }
      return next(req);
    };
  }

  function middleware(name: string, next: Handler): Handler {
    const def = model.middlewares.get(name);
    if (!def) throw new Error(`no middleware ${name}`);
    const [type, ...others] = Object.keys(def);
    if (others.length) throw new Error(`${name}: one middleware type expected`);
    switch (type) {
      case 'headers':
        return headersMiddleware(def.headers, next);
      case 'forwardAuth':
        return forwardAuthMiddleware(def.forwardAuth, next);
      case 'stripPrefix':
        return stripPrefixMiddleware(def.stripPrefix, next);
      case 'errors':
        return errorsMiddleware(def.errors, next);
      case 'replacePathRegex':
        return replacePathRegexMiddleware(def.replacePathRegex, next);
      case 'rateLimit':
        return next;
      default:
        throw new Error(`${name}: ${type} is not modelled`);
    }
  }

  /**
   * Traefik's reverse proxy to the router's service: passHostHeader (default) keeps the client's
   * Host, false sends the server's; the servers transport's responseHeaderTimeout ends a wait with
   * 504, a server that cannot be reached is 502 (pkg/proxy/httputil ErrorHandler).
   */
  const toService =
    (service: { url: string; passHostHeader?: boolean; transport?: Yaml }): Handler =>
    async (req) => {
      const known = ['forwardingTimeouts', 'rootCAs'];
      for (const k of Object.keys(service.transport ?? {}))
        if (!known.includes(k)) throw new Error(`serversTransports.${k} is not modelled`);
      const h = withoutHop(req.headers, PROXY_HOP_HEADERS);
      const prior = h.get('x-forwarded-for');
      set(h, 'x-forwarded-for', prior ? `${prior.join(', ')}, ${req.remoteAddress}` : req.remoteAddress);
      if (service.passHostHeader === false) set(h, 'host', new URL(service.url).host);
      const timeout = /^(\d+)s$/.exec(String(service.transport?.forwardingTimeouts?.responseHeaderTimeout ?? ''));
      const exchanged = exchange(backend(service.url), req.method, req.path + req.query, h, req.body);
      const waited = timeout
        ? Promise.race([
            exchanged,
            new Promise<'timeout'>((resolve) =>
              setTimeout(() => resolve('timeout'), Number(timeout[1]) * 1000).unref(),
            ),
          ])
        : exchanged;
      try {
        const res = await waited;
        if (res === 'timeout') return text(504, 'Gateway Timeout');
        return { ...res, headers: withoutHop(res.headers, PROXY_HOP_HEADERS) };
      } catch {
        exchanged.catch(() => undefined);
        return text(502, 'Bad Gateway');
      }
    };

  async function handle(incoming: IncomingMessage, body: Buffer): Promise<ModelResponse> {
    const headers = requestHeaders(incoming);
    // underscoreHeadersStrategy: delete (v3.6.22+).
    if (entryPoint.http?.underscoreHeadersStrategy === 'delete') {
      for (const name of [...headers.keys()]) if (name.includes('_')) headers.delete(name);
    }
    const host = incoming.headers.host ?? '';
    const remoteAddress = incoming.socket.remoteAddress ?? '';
    // forwardedHeaders without trusted IPs: the client's X-Forwarded-* go, Traefik's own are set.
    for (const name of X_HEADERS) headers.delete(name);
    set(headers, 'x-real-ip', remoteAddress);
    set(headers, 'x-forwarded-proto', 'http');
    set(headers, 'x-forwarded-port', portOf(host) ?? '80');
    if (host) set(headers, 'x-forwarded-host', host);
    set(headers, 'x-forwarded-server', 'traefik-model');
    headers.delete('host');
    set(headers, 'host', host);

    const target = normalizeTarget(incoming.url ?? '/');
    if (target === 'rejected') return text(400, 'Bad Request\n');
    const router = model.pick(host, incoming.url ?? '/');
    if (router === null) return text(404, '404 page not found\n');
    if (router === 'rejected') return text(400, 'Bad Request\n');
    const service = model.services.get(router.service)!;
    const chain = model.flatten([...(entryPoint.http?.middlewares ?? []), ...router.middlewares], router.provider);
    let handler = toService(service);
    for (const name of [...chain].reverse()) handler = middleware(name, handler);
    return handler({
      method: incoming.method ?? 'GET',
      path: target.path,
      query: target.query,
      host,
      headers,
      body,
      remoteAddress,
    });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, Buffer.concat(chunks)).then(
        (answer) => {
          answer.headers.delete('content-length');
          answer.headers.delete('transfer-encoding');
          res.writeHead(answer.status, {
            ...Object.fromEntries(answer.headers),
            'content-length': String(answer.body.length),
          });
          res.end(answer.body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`traefik model: ${err.message}`);
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    model,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
