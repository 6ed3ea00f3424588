/**
 * The Traefik configuration of the Compose stack, as Traefik reads it (tests/support/traefik-model.ts):
 * traefik/traefik.yml (static, by hand), traefik/dynamic/*.yml and the containers' labels (generated
 * by scripts/generate-deploy.ts). Traefik must route every path exactly where the route table
 * (auth/src/edge/routes.ts) sends it, through the chain (auth/src/edge/chain.ts) for MCP services.
 */
import { readFileSync } from 'node:fs';
import { AUTH_ROUTES, INTERNAL_ROUTES, normalizeTarget, routeOf, serviceRoutes } from '../../auth/src/edge/routes.ts';
import { AUTH_RESPONSE_HEADERS, CHAIN, CORS } from '../../auth/src/edge/chain.ts';
import { MCP_BODY_LIMIT } from '../../auth/src/edge/mcp-body.ts';
import {
  AUTH,
  AUTH_URL,
  ENTRY_POINT,
  MCP_SERVICES,
  SERVICE_PORT,
  TRAEFIK_IMAGE,
} from '../../scripts/deploy/topology.ts';
import { canonicalHeader, RATE_LIMITS } from '../../scripts/deploy/traefik-config.ts';
import { compileRule, loadTraefikModel, type Routed } from '../support/traefik-model.ts';

const DOMAIN = 'mcp.example.com';
const model = loadTraefikModel(DOMAIN);
const { staticConfig, compose } = model;
const SERVICES = new Set(MCP_SERVICES);
const middleware = (name: string) => model.middlewares.get(`${name}@file`)!;

/** Where routes.ts sends a target, in the model's terms. */
function expected(target: string): Routed['kind'] | `service ${string}` {
  const t = normalizeTarget(target);
  if (t === 'rejected') return 'rejected';
  const r = routeOf(t.path, SERVICES);
  if (r.to === 'service') return `service ${r.service}`;
  return r.to === 'auth' ? 'auth' : 'none';
}
function actual(target: string, host = DOMAIN): Routed['kind'] | `service ${string}` {
  const r = model.route(host, target);
  return r.kind === 'service' ? `service ${r.service}` : r.kind;
}

describe('the rule evaluator', () => {
  test('understands the subset, and refuses the rest', () => {
    const m = compileRule('Host(`a.example`) && (Path(`/x`) || PathPrefix(`/y/`)) && !PathRegexp(`z$`)');
    expect(m({ host: 'A.example', path: '/x' })).toBe(true);
    expect(m({ host: 'a.example:443', path: '/y/1' })).toBe(true);
    expect(m({ host: 'a.example.', path: '/x' })).toBe(true);
    expect(m({ host: 'a.example', path: '/y/z' })).toBe(false);
    expect(m({ host: 'b.example', path: '/x' })).toBe(false);
    expect(() => compileRule('Header(`X`, `y`)')).toThrow();
    expect(() => compileRule('Path(`/x`) &&')).toThrow();
  });
});

describe('Traefik routes every path as the route table does', () => {
  const tricky = [
    '/authorize/abc123',
    '/authorize/abc123?x=1',
    '/authorize',
    '/authorize/',
    '/verify',
    '/verify/',
    '/verify?x',
    '/%76erify',
    '/%76%65%72%69%66%79',
    '/health/../verify',
    '/health/..%2fverify',
    '//verify',
    '/./verify',
    '/VERIFY',
    '/Verify',
    '/metrics',
    '/%6detrics',
    '/jwks/../metrics',
    '/health',
    '/health/',
    '/interaction/%2e%2e/verify',
    '/callback/../verify',
    '/register/../verify',
    '/register%2f..%2fverify',
    '/.well-known/oauth-protected-resource/../../verify',
    '/echo-stateful/mcp/../../verify',
    '/echo-stateful/mcp',
    '/echo-stateful/mcp/',
    '/echo-stateful/mcp/x',
    '/echo-stateful/mcpx',
    '/echo-stateful//mcp',
    '/echo-stateful/./mcp',
    '/echo-stateful/%6dcp',
    '/Echo-Stateful/mcp',
    '/echo-stateful',
    '/echo-stateful/',
    '/echo-stateful/health',
    '/unknown/mcp',
    '/mcp',
    '/.well-known/oauth-authorization-server/echo-stateful/mcp',
    '/.well-known/openid-configuration/echo-stateful/mcp',
    '/.well-known/oauth-protected-resource/echo-stateful/mcp',
    '/.well-known/oauth-protected-resourcex',
    '/request',
    '/session/end/confirm',
    '/token/',
    '/tokenx',
    '/register/client-1',
    '/interaction/abc/login/github',
    '/callback/github?code=x&state=y',
    '/',
    '',
    '*',
    '/a%zz',
  ];
  const routeTable = [
    ...AUTH_ROUTES.flatMap((r) => (r.match === 'exact' ? [r.path] : [r.path, `${r.path}x`, `${r.path}/x`])),
    ...INTERNAL_ROUTES.flatMap((r) => (r.match === 'exact' ? [r.path, `${r.path}?q`] : [r.path, `${r.path}x`])),
    ...MCP_SERVICES.flatMap((s) => serviceRoutes(s).flatMap((r) => [r.path, `${r.path}?q=1`, `${r.path}x`])),
  ];

  test.each([...new Set([...routeTable, ...tricky])])('%s', (target) => {
    expect(actual(target)).toBe(expected(target));
  });

  test('no path reaches anything on another host', () => {
    for (const target of ['/token', '/echo-stateful/mcp', '/.well-known/oauth-authorization-server']) {
      for (const host of ['evil.example', 'auth', 'localhost', `${DOMAIN}.evil.example`]) {
        expect(actual(target, host)).toBe('none');
      }
      expect(actual(target, `${DOMAIN.toUpperCase()}:443`)).not.toBe('none');
    }
  });

  test('no router matches an internal path, on any host, whatever the priorities', () => {
    for (const { path } of INTERNAL_ROUTES) {
      for (const host of [DOMAIN, 'auth', 'localhost']) expect(model.matching(host, path)).toEqual([]);
    }
  });
});

describe('routers', () => {
  test('every router is on websecure, which serves TLS from the letsencrypt resolver', () => {
    expect(model.routers.length).toBe(AUTH_ROUTES.length + MCP_SERVICES.length);
    for (const r of model.routers) expect(r.entryPoints).toEqual([ENTRY_POINT]);
    const ep = staticConfig.entryPoints[ENTRY_POINT];
    expect(ep.address).toBe(':443');
    expect(ep.http.tls.certResolver).toBe('letsencrypt');
    expect(staticConfig.certificatesResolvers.letsencrypt.acme).toBeDefined();
  });

  test('every router names a service and existing middlewares', () => {
    for (const r of model.routers) {
      expect(model.services.has(r.service)).toBe(true);
      expect(() => model.flatten(r.middlewares)).not.toThrow();
    }
    expect(() => model.flatten(staticConfig.entryPoints[ENTRY_POINT].http.middlewares)).not.toThrow();
    expect(model.services.get('auth@file')).toEqual({ url: AUTH_URL, container: AUTH.container, port: AUTH.port });
  });

  test.each(MCP_SERVICES)('%s: its router runs the whole chain, then strips /%s', (name) => {
    const routed = model.route(DOMAIN, `/${name}/mcp`);
    if (routed.kind !== 'service') throw new Error(`${name} is not routed`);
    expect(routed.router).toBe(`mcp-${name}@docker`);
    expect(compose.services[name].profiles).toEqual([name]);
    // Entry point's security headers; then chain.ts's steps in order; strip-prefix last, so that
    // /verify sees /<service>/mcp in X-Forwarded-Uri.
    expect(routed.middlewares).toEqual([
      'security-headers@file',
      'mcp-cors@file',
      'strip-client-identity@file',
      'mcp-forward-auth@file',
      'strip-credentials@file',
      `mcp-${name}-strip@docker`,
    ]);
    expect(CHAIN.map((s) => s.step)).toEqual(['cors', 'strip', 'forward-auth', 'strip', 'strip-prefix']);
    expect(model.middlewares.get(`mcp-${name}-strip@docker`)).toEqual({ stripPrefix: { prefixes: [`/${name}`] } });
    expect(model.services.get(`mcp-${name}@docker`)).toEqual({
      url: `http://${name}:${SERVICE_PORT}`,
      container: name,
      port: SERVICE_PORT,
    });
    // Above every auth router, as routes.ts looks services up before auth paths.
    const router = model.routers.find((r) => r.name === routed.router)!;
    for (const r of model.routers.filter((x) => x.provider === 'file'))
      expect(router.priority).toBeGreaterThan(r.priority);
  });

  test.each(AUTH_ROUTES.map((r) => [r.path, r]))('%s: to auth, with its rate limit', (_path, r) => {
    const target = r.match === 'exact' ? r.path : `${r.path}x`;
    const routed = model.route(DOMAIN, target);
    if (routed.kind !== 'auth') throw new Error(`${target} is not routed to auth`);
    const router = model.routers.find((x) => x.name === routed.router)!;
    expect(model.flatten(router.middlewares)).toEqual(r.rateLimit ? [`ratelimit-${r.rateLimit}@file`] : []);
  });

  test('rate limits per client IP', () => {
    for (const [limit, rate] of Object.entries(RATE_LIMITS)) {
      const { rateLimit } = middleware(`ratelimit-${limit}`);
      expect(rateLimit).toEqual(rate);
      expect(rate.burst).toBeGreaterThanOrEqual(1);
      // Unset: the connection's address, the client's own since Traefik is the edge.
      expect(rateLimit.sourceCriterion).toBeUndefined();
    }
  });
});

describe('middlewares: the chain of chain.ts', () => {
  test('forward auth: the /verify contract of docs/edge.md', () => {
    const fa = middleware('mcp-forward-auth').forwardAuth;
    expect(fa.address).toBe(`${AUTH_URL}/verify`);
    // The entry point deletes every client-sent X-Forwarded-* (below): those /verify gets are Traefik's.
    expect(fa.trustForwardHeader).toBe(true);
    expect(fa.authResponseHeaders).toEqual(AUTH_RESPONSE_HEADERS.map(canonicalHeader));
    expect(fa.authResponseHeaders).toContain('X-Gateway-Edge');
    expect(fa.maxResponseBodySize).toBe(CHAIN.find((s) => s.step === 'forward-auth')!.maxResponseBodySize);
    // Every original header, and the body (its MCP headers are held to it), as a GET.
    expect(fa.authRequestHeaders).toBeUndefined();
    expect(fa.forwardBody).toBe(true);
    expect(fa.maxBodySize).toBe(MCP_BODY_LIMIT);
    expect(fa.preserveRequestMethod ?? false).toBe(false);
  });

  test('strip: client identity and edge headers before, Authorization and Cookie after', () => {
    expect(middleware('strip-client-identity').headers.customRequestHeaders).toEqual(
      Object.fromEntries(AUTH_RESPONSE_HEADERS.map((h) => [canonicalHeader(h), ''])),
    );
    expect(middleware('strip-credentials').headers.customRequestHeaders).toEqual({ Authorization: '', Cookie: '' });
  });

  test('CORS from chain.ts, no credentials', () => {
    const h = middleware('mcp-cors').headers;
    expect(h.accessControlAllowOriginList).toEqual([CORS.allowOrigin]);
    expect(h.accessControlAllowMethods).toEqual(CORS.allowMethods);
    expect(h.accessControlAllowHeaders).toEqual(CORS.allowHeaders);
    expect(h.accessControlExposeHeaders).toEqual(CORS.exposeHeaders);
    expect(h.accessControlMaxAge).toBe(CORS.maxAge);
    expect(h.addVaryHeader).toBe(true);
    expect(h.accessControlAllowCredentials ?? false).toBe(false);
  });

  test('security headers on every router of websecure', () => {
    expect(staticConfig.entryPoints[ENTRY_POINT].http.middlewares).toEqual(['security-headers@file']);
    const h = middleware('security-headers').headers;
    expect(h.stsSeconds).toBeGreaterThanOrEqual(31536000);
    expect(h.contentTypeNosniff).toBe(true);
    expect(h.referrerPolicy).toBe('no-referrer');
  });
});

describe('static configuration', () => {
  const websecure = staticConfig.entryPoints[ENTRY_POINT];

  test('request paths are read as routes.ts reads them', () => {
    expect(websecure.http.sanitizePath).toBe(true);
    expect(Object.keys(websecure.http.encodedCharacters).sort()).toEqual(
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
    expect(Object.values(websecure.http.encodedCharacters).every((v) => v === false)).toBe(true);
  });

  test('no client-sent X-Forwarded-* is trusted; underscore header spellings are dropped', () => {
    for (const ep of ['web', ENTRY_POINT]) {
      expect(staticConfig.entryPoints[ep].forwardedHeaders).toEqual({ insecure: false, trustedIPs: [] });
    }
    // Traefik v3.6.22+ (migration notes): X_User_Id never reaches a backend as an alias of X-User-Id.
    expect(websecure.http.underscoreHeadersStrategy).toBe('delete');
    const [major, minor, patch] = TRAEFIK_IMAGE.replace('traefik:v', '').split('.').map(Number);
    expect(major === 3 && minor === 6 && patch! >= 22).toBe(true);
    expect(compose.services.traefik.image).toBe(TRAEFIK_IMAGE);
    expect(readFileSync(new URL('../../traefik/traefik.yml', import.meta.url), 'utf8')).toContain(TRAEFIK_IMAGE);
  });

  test('web redirects permanently to websecure', () => {
    const web = staticConfig.entryPoints.web;
    expect(web.address).toBe(':80');
    expect(web.http.redirections.entryPoint).toEqual({ to: ENTRY_POINT, scheme: 'https', permanent: true });
    expect(websecure.asDefault).toBe(true);
  });

  test('providers: labelled containers only, each on its network; the generated directory', () => {
    const { docker, file } = staticConfig.providers;
    expect(docker.exposedByDefault).toBe(false);
    // Per container (traefik.docker.network), never one network for all: tests/deploy/networks.test.ts.
    expect(docker.network).toBeUndefined();
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
    for (const [name] of kept) expect(name).not.toMatch(/auth|cookie|token|session|secret|edge/i);
  });

  test('no insecure API or dashboard; ping only on loopback', () => {
    expect(staticConfig.api?.insecure ?? false).toBe(false);
    expect(staticConfig.ping.entryPoint).toBe('ping');
    expect(staticConfig.entryPoints.ping.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test('ACME: TLS challenge, storage on the acme volume, e-mail filled in at start', () => {
    const acme = staticConfig.certificatesResolvers.letsencrypt.acme;
    expect(acme.tlsChallenge).toEqual({});
    expect(acme.email).toBe('${ACME_EMAIL}');
    const volume = (compose.services.traefik.volumes as string[]).find((v) => v.startsWith('acme:'));
    expect(acme.storage.startsWith(`${volume?.split(':')[1]}/`)).toBe(true);
  });
});
