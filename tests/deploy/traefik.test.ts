/**
 * Static checks of the Traefik configuration of the Compose stack: traefik/traefik.yml (static),
 * traefik/dynamic/middlewares.yml (file provider) and the router labels of docker-compose.yml.
 * No Traefik binary here: routing is checked with a small model of how Traefik v3 matches a
 * request (path handling below, rule evaluation for the matchers the stack uses).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const DOMAIN = 'mcp.example.com';

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const compose: Yaml = parse(read('docker-compose.yml'), { merge: true });
const staticConfig: Yaml = parse(read('traefik/traefik.yml'));
const dynamic: Yaml = parse(read('traefik/dynamic/middlewares.yml'));
const fileMiddlewares: Yaml = dynamic.http.middlewares;

/** Every service of the catalogue (mcp-services/catalogue.ts): each must be deployable. */
const MCP_SERVICES = Object.keys(CATALOGUE);
const IDENTITY_HEADERS = ['X-User-Id', 'X-User-Login', 'X-User-Name', 'X-User-Email', 'X-User-Provider', 'X-Client-Id'];

// ---- Routers and middlewares declared in container labels (docker provider) ---------------------

interface Router {
  name: string;
  container: string;
  rule: string;
  priority: number;
  entrypoints: string[];
  middlewares: string[];
  service: string;
}

/** Labels of every container, `${BASE_DOMAIN}` interpolated as Compose would. */
const labels = new Map<string, Map<string, string>>();
for (const [container, def] of Object.entries<Yaml>(compose.services)) {
  const map = new Map<string, string>();
  for (const label of (def.labels ?? []) as string[]) {
    const at = label.indexOf('=');
    map.set(label.slice(0, at), label.slice(at + 1).replaceAll('${BASE_DOMAIN}', DOMAIN));
  }
  labels.set(container, map);
}

const routers: Router[] = [];
const dockerMiddlewares = new Map<string, Yaml>();
const dockerServices = new Map<string, { container: string; port: number }>();
for (const [container, map] of labels) {
  const field = (prefix: string, name: string, key: string) => map.get(`${prefix}.${name}.${key}`);
  const names = (prefix: string) =>
    new Set([...map.keys()].filter((k) => k.startsWith(`${prefix}.`)).map((k) => k.split('.')[3] ?? ''));
  for (const name of names('traefik.http.routers')) {
    const r = (key: string) => field('traefik.http.routers', name, key);
    routers.push({
      name,
      container,
      rule: r('rule') ?? '',
      priority: Number(r('priority') ?? 0),
      entrypoints: (r('entrypoints') ?? '').split(',').filter(Boolean),
      middlewares: (r('middlewares') ?? '').split(',').filter(Boolean),
      service: r('service') ?? '',
    });
  }
  for (const name of names('traefik.http.middlewares')) {
    const prefix = `traefik.http.middlewares.${name}.`;
    const def: Yaml = {};
    for (const [k, v] of map) if (k.startsWith(prefix)) def[k.slice(prefix.length)] = v;
    dockerMiddlewares.set(name, def);
  }
  for (const name of names('traefik.http.services')) {
    dockerServices.set(name, {
      container,
      port: Number(field('traefik.http.services', name, 'loadbalancer.server.port')),
    });
  }
}

/** A router's middlewares in the order a request goes through them, chains expanded. */
function flatMiddlewares(refs: string[]): string[] {
  return refs.flatMap((ref) => {
    const [name = '', provider = 'file'] = ref.split('@');
    if (provider === 'file') {
      const def = fileMiddlewares[name];
      if (!def) throw new Error(`${ref}: no such middleware in traefik/dynamic/middlewares.yml`);
      return def.chain ? flatMiddlewares(def.chain.middlewares as string[]) : [`${name}@file`];
    }
    if (provider === 'docker') {
      if (!dockerMiddlewares.has(name)) throw new Error(`${ref}: no container label defines it`);
      return [`${name}@docker`];
    }
    throw new Error(`${ref}: unexpected provider`);
  });
}

// ---- How Traefik v3 sees a request path (docs: security/request-path, migrate/v3) ------------------
// 1. The path is the request target up to `?` or `#`: the query never takes part in routing.
// 2. Encoded reserved characters the websecure entry point disallows (encodedCharacters, all false
//    in traefik.yml: %2F %5C %00 %3B %25 %3F %23) get 400 before any routing.
// 3. Normalization (v3.4.1+, cannot be disabled): percent-encoded unreserved characters (RFC 3986
//    §2.3: ALPHA DIGIT - . _ ~) are decoded, other percent-encodings upper-cased. `/%76erify` is
//    `/verify`, `/%2e%2e/` is `/../`.
// 4. Sanitization (sanitizePath, true in traefik.yml): `.` and `..` segments and duplicate slashes
//    are removed, a trailing slash kept. `/health/../verify` is `/verify`.
// Rules then match this path, with reserved characters still encoded, and the backend receives it.

const REJECTED_ENCODINGS = /%(2f|5c|00|3b|25|3f|23)/i;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** The path Traefik routes (and forwards), or 'rejected' for a 400. */
export function routingPath(target: string): string | 'rejected' {
  const raw = target.split(/[?#]/, 1)[0] ?? '';
  if (REJECTED_ENCODINGS.test(raw)) return 'rejected';
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
  return `/${out.join('/')}${trailing}`;
}

// ---- The rule language subset: Host, Path, PathPrefix, PathRegexp, !, &&, ||, parentheses ---------

interface Request {
  host: string;
  path: string;
}
type Matcher = (req: Request) => boolean;

/** Compiles a router rule; throws on anything outside the subset, so a new construct fails here. */
export function compileRule(rule: string): Matcher {
  const tokens = rule.match(/\s*(&&|\|\||!|\(|\)|[A-Za-z]+\s*\((?:\s*`[^`]*`\s*,?)*\s*\))\s*/gy);
  if (!tokens || tokens.join('') !== rule) throw new Error(`cannot parse rule: ${rule}`);
  const list = tokens.map((t) => t.trim());
  let at = 0;
  const peek = () => list[at];
  function primary(): Matcher {
    const t = list[at++];
    if (t === undefined) throw new Error(`rule ends early: ${rule}`);
    if (t === '!') {
      const inner = primary();
      return (r) => !inner(r);
    }
    if (t === '(') {
      const inner = or();
      if (list[at++] !== ')') throw new Error(`missing ) in ${rule}`);
      return inner;
    }
    const m = /^([A-Za-z]+)\s*\((.*)\)$/.exec(t);
    const args = [...(m?.[2] ?? '').matchAll(/`([^`]*)`/g)].map((a) => a[1] ?? '');
    const [arg = ''] = args;
    if (!['Host', 'Path', 'PathPrefix', 'PathRegexp'].includes(m?.[1] ?? '')) {
      throw new Error(`${t}: matcher outside the modelled subset`);
    }
    if (args.length !== 1) throw new Error(`${t}: one argument expected`);
    switch (m?.[1]) {
      case 'Host':
        return (r) => r.host.toLowerCase() === arg.toLowerCase();
      case 'Path':
        return (r) => r.path === arg;
      case 'PathPrefix':
        return (r) => r.path.startsWith(arg);
      case 'PathRegexp': {
        const re = new RegExp(arg);
        return (r) => re.test(r.path);
      }
      default:
        throw new Error(`${t}: matcher outside the modelled subset`);
    }
  }
  function and(): Matcher {
    let left = primary();
    while (peek() === '&&') {
      at++;
      const l = left;
      const right = primary();
      left = (r) => l(r) && right(r);
    }
    return left;
  }
  function or(): Matcher {
    let left = and();
    while (peek() === '||') {
      at++;
      const l = left;
      const right = and();
      left = (r) => l(r) || right(r);
    }
    return left;
  }
  const matcher = or();
  if (at !== list.length) throw new Error(`unexpected ${list[at]} in ${rule}`);
  return matcher;
}

const compiled = routers.map((r) => ({ router: r, match: compileRule(r.rule) }));

/** The router Traefik picks for a request (highest priority among the matching), or null. */
function route(target: string, host = DOMAIN): Router | null | 'rejected' {
  const path = routingPath(target);
  if (path === 'rejected') return 'rejected';
  const matching = compiled.filter((c) => c.match({ host, path })).map((c) => c.router);
  matching.sort((a, b) => b.priority - a.priority);
  return matching[0] ?? null;
}

/** Every router a request matches, whatever the priorities. */
function allMatching(target: string, host = DOMAIN): Router[] {
  const path = routingPath(target);
  if (path === 'rejected') return [];
  return compiled.filter((c) => c.match({ host, path })).map((c) => c.router);
}

const leadsToAuth = (r: Router): boolean => dockerServices.get(r.service)?.container === 'auth';

// ---- Tests ------------------------------------------------------------------------------------------

describe('the request path model', () => {
  test.each([
    ['/verify?x', '/verify'],
    ['/%76erify', '/verify'],
    ['/health/../verify', '/verify'],
    ['//verify', '/verify'],
    ['/./foo/../bar//', '/bar/'],
    ['/foo/%2E%2E/bar', '/bar'],
    ['/foo/%2e%2e/bar', '/bar'],
    ['/a%7eb%c3%a9', '/a~b%C3%A9'],
    ['/echo-stateful/mcp', '/echo-stateful/mcp'],
    ['/a%2Fb', 'rejected'],
    ['/a%3b', 'rejected'],
  ])('%s is routed as %s', (target, path) => {
    expect(routingPath(target)).toBe(path);
  });

  test('the entry point is configured as the model assumes', () => {
    const http = staticConfig.entryPoints.websecure.http;
    expect(http.sanitizePath).toBe(true);
    expect(Object.keys(http.encodedCharacters).sort()).toEqual(
      [
        'allowEncodedBackSlash',
        'allowEncodedHash',
        'allowEncodedNullCharacter',
        'allowEncodedPercent',
        'allowEncodedQuestionMark',
        'allowEncodedSemicolon',
        'allowEncodedSlash',
      ].sort(),
    );
    expect(Object.values(http.encodedCharacters).every((v) => v === false)).toBe(true);
  });

  test('the rule evaluator understands the subset', () => {
    const m = compileRule('Host(`a.example`) && (Path(`/x`) || PathPrefix(`/y/`)) && !PathRegexp(`z$`)');
    expect(m({ host: 'A.example', path: '/x' })).toBe(true);
    expect(m({ host: 'a.example', path: '/y/1' })).toBe(true);
    expect(m({ host: 'a.example', path: '/y/z' })).toBe(false);
    expect(m({ host: 'b.example', path: '/x' })).toBe(false);
    expect(() => compileRule('Header(`X`, `y`)')).toThrow(/subset/);
    expect(() => compileRule('Path(`/x`) &&')).toThrow();
  });
});

describe('routers', () => {
  test('every router is on websecure, with TLS from the letsencrypt resolver', () => {
    expect(routers.length).toBeGreaterThan(0);
    for (const r of routers) expect(r.entrypoints).toEqual(['websecure']);
    const ep = staticConfig.entryPoints.websecure;
    expect(ep.address).toBe(':443');
    expect(ep.http.tls.certResolver).toBe('letsencrypt');
    expect(staticConfig.certificatesResolvers.letsencrypt.acme).toBeDefined();
  });

  test('every router names a service, every service a port, every middleware exists', () => {
    for (const r of routers) {
      expect(dockerServices.has(r.service)).toBe(true);
      expect(() => flatMiddlewares(r.middlewares)).not.toThrow();
    }
    for (const [name, s] of dockerServices)
      expect([name, s.port]).toEqual([name, s.container === 'auth' ? 8080 : 3000]);
    for (const ref of staticConfig.entryPoints.websecure.http.middlewares as string[]) {
      expect(() => flatMiddlewares([ref])).not.toThrow();
    }
  });

  test.each(MCP_SERVICES)('%s: only /%s/mcp reaches it, through the whole chain', (name) => {
    const own = routers.filter((r) => r.container === name);
    expect(own).toHaveLength(1);
    const router = own[0]!;
    expect(compose.services[name].profiles).toEqual([name]);

    for (const target of [`/${name}/mcp`, `/${name}/mcp/`, `/${name}/mcp?session=1`]) {
      expect(route(target)).toBe(router);
    }
    for (const target of [`/${name}`, `/${name}/`, `/${name}/mcpx`, `/${name}/mcp/x`, `/${name}/health`, '/mcp']) {
      expect(allMatching(target)).not.toContain(router);
    }
    expect(route(`/${name}/mcp`, 'evil.example')).toBeNull();
    // Above every auth router, should a rule ever overlap.
    for (const r of routers.filter((x) => x.container === 'auth')) expect(router.priority).toBeGreaterThan(r.priority);

    // CORS, strip client identity, ForwardAuth, strip Authorization, and only then the prefix:
    // /verify must see /<service>/mcp in X-Forwarded-Uri.
    const strip = `mcp-${name}-strip@docker`;
    expect(flatMiddlewares(router.middlewares)).toEqual([
      'mcp-cors@file',
      'strip-identity-headers@file',
      'mcp-auth@file',
      'strip-authorization@file',
      strip,
    ]);
    expect(dockerMiddlewares.get(`mcp-${name}-strip`)).toEqual({ 'stripprefix.prefixes': `/${name}` });
    expect(dockerServices.get(router.service)).toEqual({ container: name, port: 3000 });
  });

  // design.md: the OAuth, discovery and login paths belong to auth.
  test.each([
    '/.well-known/oauth-authorization-server',
    '/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server/echo-stateful/mcp',
    '/.well-known/openid-configuration/echo-stateful/mcp',
    '/.well-known/oauth-protected-resource',
    '/.well-known/oauth-protected-resource/echo-stateful/mcp',
    '/.well-known/oauth-protected-resource/tmux/mcp',
    '/authorize',
    '/authorize?client_id=x&response_type=code',
    '/token',
    '/register',
    '/register/client-id-123',
    '/revoke',
    '/introspect',
    '/jwks',
    '/userinfo',
    '/interaction/abc123',
    '/interaction/abc123/login/github',
    '/interaction/abc123/consent',
    '/callback/github?code=x&state=y',
  ])('%s goes to the auth service', (target) => {
    const r = route(target);
    expect(r).not.toBeNull();
    expect(r !== 'rejected' && r !== null && leadsToAuth(r)).toBe(true);
  });

  test('/register and /token are rate-limited per client IP', () => {
    const cases: [string, string][] = [
      ['/register', 'ratelimit-register'],
      ['/register/abc', 'ratelimit-register'],
      ['/token', 'ratelimit-token'],
    ];
    for (const [target, limiter] of cases) {
      const r = route(target) as Router;
      expect(flatMiddlewares(r.middlewares)).toEqual([`${limiter}@file`]);
      const { average, burst, sourceCriterion } = fileMiddlewares[limiter].rateLimit;
      expect(average).toBeGreaterThan(0);
      expect(burst).toBeGreaterThanOrEqual(average / 60);
      // Unset: the remote address, which is the client's own since Traefik is the edge.
      expect(sourceCriterion).toBeUndefined();
    }
  });

  // Traefik sees each of these as the path routingPath gives: /verify, /metrics, /health, a path
  // that no rule matches (404 from Traefik), or a 400. None may lead to the auth service.
  test.each([
    '/verify',
    '/verify?x',
    '/verify/',
    '/%76erify',
    '/%76%65%72%69%66%79',
    '/health/../verify',
    '//verify',
    '/./verify',
    '/interaction/%2e%2e/verify',
    '/callback/../verify',
    '/register/../verify',
    '/.well-known/oauth-protected-resource/../../verify',
    '/echo-stateful/mcp/../../verify',
    '/register%2f..%2fverify',
    '/metrics',
    '/metrics?format=prometheus',
    '/%6detrics',
    '/jwks/../metrics',
    '/health',
    '/health/',
    '/VERIFY',
  ])('%s never reaches /verify, /metrics or /health of the auth service', (target) => {
    const r = route(target);
    if (r === 'rejected' || r === null) return;
    expect(leadsToAuth(r)).toBe(false);
  });

  test('no rule matches /verify, /metrics or /health on any host', () => {
    for (const path of ['/verify', '/metrics', '/health', '/verify/', '/metrics/']) {
      for (const host of [DOMAIN, 'auth', 'localhost']) {
        expect(compiled.filter((c) => c.match({ host, path })).map((c) => c.router.name)).toEqual([]);
      }
    }
  });
});

describe('middlewares', () => {
  test('mcp-auth is the /verify ForwardAuth contract of design.md', () => {
    const fa = fileMiddlewares['mcp-auth'].forwardAuth;
    const url = new URL(fa.address);
    expect(url.pathname).toBe('/verify');
    expect(url.protocol).toBe('http:');
    // The auth container, on the port it listens on inside the gateway network.
    expect(url.hostname).toBe('auth');
    expect(url.port).toBe(compose.services.auth.environment.PORT);
    expect(fa.trustForwardHeader).toBe(false);
    expect(fa.authResponseHeaders).toEqual(IDENTITY_HEADERS);
    // Unset authRequestHeaders: Traefik forwards every original header. No body, and GET.
    expect(fa.authRequestHeaders).toBeUndefined();
    expect(fa.forwardBody ?? false).toBe(false);
    expect(fa.preserveRequestMethod ?? false).toBe(false);
  });

  test('strip-identity-headers removes each identity header; strip-authorization the token', () => {
    expect(fileMiddlewares['strip-identity-headers'].headers.customRequestHeaders).toEqual(
      Object.fromEntries(IDENTITY_HEADERS.map((h) => [h, ''])),
    );
    expect(fileMiddlewares['strip-authorization'].headers.customRequestHeaders.Authorization).toBe('');
  });

  test('mcp-cors lets browser clients speak MCP and read the challenge', () => {
    const h = fileMiddlewares['mcp-cors'].headers;
    expect(h.accessControlAllowMethods).toEqual(['GET', 'POST', 'DELETE', 'OPTIONS']);
    expect(h.accessControlAllowHeaders).toEqual(
      expect.arrayContaining([
        'Authorization',
        'Content-Type',
        'Accept',
        'Mcp-Session-Id',
        'MCP-Protocol-Version',
        'Last-Event-ID',
        'Mcp-Method',
        'Mcp-Name',
      ]),
    );
    expect(h.accessControlExposeHeaders).toEqual(
      expect.arrayContaining(['Mcp-Session-Id', 'MCP-Protocol-Version', 'WWW-Authenticate']),
    );
    expect(h.accessControlAllowCredentials ?? false).toBe(false);
    expect(h.accessControlMaxAge).toBeGreaterThan(0);
  });

  test('security headers apply to every router of websecure', () => {
    expect(staticConfig.entryPoints.websecure.http.middlewares).toEqual(['security-headers@file']);
    const h = fileMiddlewares['security-headers'].headers;
    expect(h.stsSeconds).toBeGreaterThanOrEqual(31536000);
    expect(h.contentTypeNosniff).toBe(true);
    expect(h.referrerPolicy).toBeTruthy();
  });
});

describe('static configuration', () => {
  test('web redirects permanently to websecure', () => {
    const web = staticConfig.entryPoints.web;
    expect(web.address).toBe(':80');
    expect(web.http.redirections.entryPoint).toEqual({ to: 'websecure', scheme: 'https', permanent: true });
    expect(staticConfig.entryPoints.websecure.asDefault).toBe(true);
  });

  test('providers: only labelled containers, on the stack network; middlewares from the mounted directory', () => {
    const { docker, file } = staticConfig.providers;
    expect(docker.exposedByDefault).toBe(false);
    expect(docker.network).toBe(compose.networks.gateway.name);
    const mount = (compose.services.traefik.volumes as string[]).find((v) => v.startsWith('./traefik/dynamic:'));
    expect(mount?.split(':')[1]).toBe(file.directory);
    expect(file.watch).toBe(true);
  });

  test('the access log never records credentials', () => {
    const log = staticConfig.accessLog;
    expect(log.format).toBe('json');
    expect(log.fields.headers.defaultMode).toBe('drop');
    for (const h of ['Authorization', 'Cookie', 'Set-Cookie']) expect(log.fields.headers.names[h]).toBe('drop');
    const kept = Object.entries(log.fields.headers.names as Record<string, string>).filter(([, m]) => m !== 'drop');
    for (const [name] of kept) expect(name).not.toMatch(/auth|cookie|token|session|secret/i);
  });

  test('no insecure API or dashboard; ping only on loopback', () => {
    expect(staticConfig.api?.insecure ?? false).toBe(false);
    expect(staticConfig.ping.entryPoint).toBe('ping');
    expect(staticConfig.entryPoints.ping.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const published = (compose.services.traefik.ports as string[]).map((p) => p.split(':')[1]);
    expect(published.sort()).toEqual(['443', '80']);
  });

  test('ACME: TLS challenge, storage on the acme volume, e-mail filled in at start', () => {
    const acme = staticConfig.certificatesResolvers.letsencrypt.acme;
    expect(acme.tlsChallenge).toEqual({});
    expect(acme.email).toBe('${ACME_EMAIL}');
    const volume = (compose.services.traefik.volumes as string[]).find((v) => v.startsWith('acme:'));
    expect(acme.storage.startsWith(`${volume?.split(':')[1]}/`)).toBe(true);
    expect(read('traefik/traefik.yml').match(/\$\{ACME_EMAIL\}/g)).toHaveLength(1);
  });
});
