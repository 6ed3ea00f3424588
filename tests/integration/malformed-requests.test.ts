/**
 * Requests no well-behaved client sends, straight into the auth service's handler (supertest, in
 * process): each gets a JSON error in the OAuth shape (RFC 6749 §5.2) with the right status, never a
 * bare text 404, never a 500.
 */
import request from 'supertest';
import { AUTH_ROUTES } from '../../auth/src/edge/routes.ts';
import { PROVIDER_ROUTES } from '../../auth/src/oidc/provider.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';

let gw: RunningAuth;
let app: RunningAuth['service']['handler'];
beforeAll(async () => {
  gw = await startAuth({ localPassword: 'correct horse battery' });
  app = gw.service.handler;
});
afterAll(() => gw.stop());
afterEach(() => {
  expect(gw.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
});

const json = (res: request.Response) => {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.status).toBeLessThan(500);
  return res.body as { error: string; error_description?: string };
};

describe('bodies', () => {
  test('registration: truncated JSON, a form, an array, 2 MB: 400/413 invalid_request', async () => {
    const register = () => request(app).post('/register');
    const truncated = await register().set('content-type', 'application/json').send('{"redirect_uris":');
    expect([truncated.status, json(truncated).error]).toEqual([400, 'invalid_request']);
    const form = await register().type('form').send('redirect_uris=http://127.0.0.1/cb');
    expect([form.status, json(form).error_description]).toEqual([400, expect.stringMatching(/application\/json/)]);
    const array = await register().set('content-type', 'application/json').send('[]');
    expect([array.status, json(array).error_description]).toEqual([400, expect.stringMatching(/JSON object/)]);
    const huge = await register()
      .set('content-type', 'application/json')
      .send(JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], client_name: 'x'.repeat(2_000_000) }));
    expect([huge.status, json(huge).error]).toEqual([413, 'invalid_request']);
  });

  test('token: JSON instead of a form, broken percent-encoding, repeated parameters', async () => {
    const asJson = await request(app)
      .post('/token')
      .set('content-type', 'application/json')
      .send('{"grant_type":"authorization_code"}');
    expect([asJson.status, json(asJson).error_description]).toEqual([
      400,
      expect.stringMatching(/x-www-form-urlencoded/),
    ]);
    const percent = await request(app).post('/token').type('form').send('grant_type=%ZZ&client_id=x');
    expect(json(percent).error).toMatch(/^invalid_(request|client)$/);
    // RFC 6749 §3.2: request parameters must not be included more than once.
    const twice = await request(app)
      .post('/token')
      .type('form')
      .send('grant_type=authorization_code&grant_type=refresh_token');
    expect([twice.status, json(twice).error]).toEqual([400, 'invalid_request']);
  });
});

describe('methods and paths', () => {
  test.each(Object.values(PROVIDER_ROUTES))('$path: another method gets 405 with Allow', async ({ path, methods }) => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => !methods.includes(m as never))) {
      const res = await request(app)[method.toLowerCase() as 'get'](path);
      expect({ method, status: res.status, allow: res.headers.allow }).toEqual({
        method,
        status: 405,
        allow: methods.join(', '),
      });
      expect(json(res).error).toBe('invalid_request');
    }
  });

  test.each(Object.values(PROVIDER_ROUTES))(
    '$path: the methods in Allow are served (no 404, no 405)',
    async ({ path, methods }) => {
      for (const method of methods) {
        const res = await request(app)[method.toLowerCase() as 'get'](path);
        expect({ method, served: ![404, 405].includes(res.status), status: res.status }).toMatchObject({
          method,
          served: true,
        });
      }
    },
  );

  test('every exact auth route of the edge table answers something other than a text 404', async () => {
    for (const route of AUTH_ROUTES.filter((r) => r.match === 'exact')) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await request(app)[method.toLowerCase() as 'get'](route.path);
        expect({ path: route.path, method, type: res.headers['content-type'] }).not.toEqual({
          path: route.path,
          method,
          type: expect.stringMatching(/^text\/plain/),
        });
        expect(res.status).toBeLessThan(500);
      }
    }
  });

  test('discovery answers GET only; HEAD is GET without a body', async () => {
    const post = await request(app).post('/.well-known/oauth-authorization-server');
    expect([post.status, post.headers.allow, json(post).error]).toEqual([405, 'GET', 'invalid_request']);
    const head = await request(app).head('/.well-known/oauth-authorization-server');
    expect(head.status).toBe(200);
  });

  test('an unknown path: 404 not_found as JSON', async () => {
    const res = await request(app).get('/nope');
    expect([res.status, json(res)]).toEqual([
      404,
      { error: 'not_found', error_description: 'nothing is served at /nope' },
    ]);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  test('an unknown service: the protected resource metadata says where it lives', async () => {
    const res = await request(app).get('/.well-known/oauth-protected-resource/nope/mcp');
    expect([res.status, json(res).error]).toEqual([404, 'not_found']);
  });

  test('an interaction that does not exist: a page, not an OAuth error (a person reads it)', async () => {
    const res = await request(app).get('/interaction/no-such-uid');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
  });
});
