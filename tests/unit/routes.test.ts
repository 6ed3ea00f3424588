/**
 * The route table (auth/src/edge/routes.ts) against what the auth service really serves: every
 * route oidc-provider registered (asked by name, as its initialize_app.js names them), every
 * endpoint its discovery advertises, and every route of our Express app must route to `auth`;
 * the provider features the table leaves out must be off. And the path normalisation every edge
 * shares.
 */
import { AUTH_ROUTES, INTERNAL_ROUTES, normalizeTarget, routeOf } from '../../auth/src/edge/routes.ts';
import { PROVIDER_ROUTES } from '../../auth/src/oidc/provider.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';

let auth: RunningAuth;
const SERVICES = new Set(['echo']);
beforeAll(async () => {
  auth = await startAuth();
});
afterAll(() => auth.stop());

const destination = (target: string) => {
  const t = normalizeTarget(target);
  return t === 'rejected' ? 'rejected' : routeOf(t.path, SERVICES).to;
};

/** Every route name oidc-provider 9's lib/helpers/initialize_app.js may register. */
const OFFERED = [
  'authorization',
  'resume',
  'userinfo',
  'token',
  'jwks',
  'discovery',
  'registration',
  'client',
  'client_update',
  'client_delete',
  'revocation',
  'introspection',
];
/** Registered only with a feature on; none is offered (every path must be routed, or off). */
const NOT_OFFERED = [
  'pushed_authorization_request',
  'end_session',
  'end_session_success',
  'device_authorization',
  'code_verification',
  'device_resume',
  'backchannel_authentication',
  'credential',
  'challenge',
];

describe('every path the authorization server serves is routed to it', () => {
  test.each(OFFERED)('provider route %s', (name) => {
    const path = auth.service.provider.pathFor(name, { uid: 'abc123', clientId: 'client-1' });
    expect(destination(path)).toBe('auth');
  });

  test.each(NOT_OFFERED)('provider feature %s is off', (name) => {
    expect(() => auth.service.provider.pathFor(name, { uid: 'abc123' })).toThrow();
  });

  test('the logout confirmation, registered whatever the features, is not routed (logout is not offered)', () => {
    const path = auth.service.provider.pathFor('end_session_confirm');
    expect(path).toBe('/session/end/confirm');
    expect(destination(path)).toBe('none');
  });

  test('every endpoint discovery advertises (PAR is not)', async () => {
    for (const doc of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await (await fetch(auth.url + doc)).json()) as Record<string, unknown>;
      expect(metadata).not.toHaveProperty('pushed_authorization_request_endpoint');
      expect(metadata).not.toHaveProperty('end_session_endpoint');
      const urls = Object.entries(metadata).filter(([k, v]) => /(_endpoint|_uri)$/.test(k) && typeof v === 'string');
      expect(urls.length).toBeGreaterThan(5);
      for (const [key, url] of urls) {
        const u = new URL(url as string);
        if (u.origin !== auth.url) continue; // e.g. service_documentation elsewhere
        expect([key, destination(u.pathname)]).toEqual([key, 'auth']);
      }
    }
  });

  test('every route of the Express app (health is internal)', () => {
    type Layer = { route?: { path: string | string[] }; handle?: { stack?: Layer[] } };
    const paths: string[] = [];
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route) paths.push(...[layer.route.path].flat());
        else if (layer.handle?.stack) walk(layer.handle.stack);
      }
    };
    walk((auth.service.app as unknown as { router: { stack: Layer[] } }).router.stack);
    expect(paths).toContain('/interaction/:uid/consent');
    for (const path of paths) {
      const concrete = path.replace(/:service/g, 'echo').replace(/:[a-z]+/gi, 'x1');
      expect([path, destination(concrete)]).toEqual([path, path === '/health' ? 'internal' : 'auth']);
    }
  });

  test('the path-suffixed discovery forms route to auth and answer there', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server/echo/mcp',
      '/.well-known/openid-configuration/echo/mcp',
      '/.well-known/oauth-protected-resource/echo/mcp',
    ]) {
      expect(destination(path)).toBe('auth');
      expect((await fetch(auth.url + path)).status).toBe(200);
    }
  });
});

describe('routeOf', () => {
  test('services, internal paths, unknown paths', () => {
    expect(routeOf('/echo/mcp', SERVICES)).toEqual({ to: 'service', service: 'echo', rest: '/mcp' });
    expect(routeOf('/echo/mcp/', SERVICES)).toEqual({ to: 'service', service: 'echo', rest: '/mcp/' });
    expect(routeOf('/echo/mcp/x', SERVICES).to).toBe('none');
    expect(routeOf('/other/mcp', SERVICES).to).toBe('none');
    expect(routeOf('/', SERVICES).to).toBe('none');
    expect(routeOf('/request', SERVICES).to).toBe('none');
    for (const path of ['/verify', '/verify/', '/verify/x', '/metrics', '/health', '/health/live'])
      expect(routeOf(path, SERVICES).to).toBe('internal');
    expect(routeOf('/verifyx', SERVICES).to).toBe('none');
  });

  test('internal paths win over every other route', () => {
    for (const r of INTERNAL_ROUTES) {
      expect(AUTH_ROUTES.some((a) => (a.match === 'exact' ? a.path === r.path : r.path.startsWith(a.path)))).toBe(
        false,
      );
    }
  });

  test('rate-limited routes are the registration and token endpoints', () => {
    expect(AUTH_ROUTES.filter((r) => r.rateLimit).map((r) => r.path)).toEqual(['/token', '/register', '/register/']);
  });
});

describe('normalizeTarget (Traefik v3 request-path semantics)', () => {
  test.each([
    ['/verify', '/verify', ''],
    ['/%76erify', '/verify', ''],
    ['/health/../verify', '/verify', ''],
    ['//verify', '/verify', ''],
    ['/./verify', '/verify', ''],
    ['/echo/mcp/', '/echo/mcp/', ''],
    ['/echo/mcp?x=1', '/echo/mcp', '?x=1'],
    ['/a/%7e/b', '/a/~/b', ''],
    ['/a/%c3%a9', '/a/%C3%A9', ''],
    ['/echo/mcp/..', '/echo/', ''],
  ])('%s → %s', (target, path, query) => {
    expect(normalizeTarget(target)).toEqual({ path, query });
  });

  test.each([
    '/a%2Fb',
    '/a%2fb',
    '/a%5Cb',
    '/a%00',
    '/a%3B',
    '/a%25',
    '/a%3F',
    '/a%23',
    '/a%zz',
    'verify',
    '*',
    '/echo/mcp#x',
    '/echo/mcp?x=1#f',
    '/authorize/abc#',
  ])('%s is refused', (target) => expect(normalizeTarget(target)).toBe('rejected'));

  test('the query is never routed', () => {
    expect(destination('/nothing?/verify')).toBe('none');
    expect(destination('/token?%2F')).toBe('auth');
  });
});

// The provider's endpoints are configured from PROVIDER_ROUTES (oidc/provider.ts): each must be an
// exact auth route of the one table, or the edges (and Traefik, generated from it) would not route it.
test('every endpoint the provider serves is an exact auth route of the table', () => {
  for (const { path } of Object.values(PROVIDER_ROUTES)) {
    expect({ path, route: AUTH_ROUTES.find((r) => r.path === path)?.match }).toEqual({ path, route: 'exact' });
    expect(routeOf(path, SERVICES).to).toBe('auth');
  }
});
