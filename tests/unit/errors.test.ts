/**
 * The one error family (auth/src/errors.ts): each class is one code with one status, and toWire
 * maps it once to status, headers (WWW-Authenticate with RFC 9728 §5.1 resource_metadata) and an
 * RFC 6749 §5.2 body.
 */
import {
  AccessDeniedError,
  ContentTooLargeError,
  GatewayError,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MethodNotAllowedError,
  MissingTokenError,
  NotFoundError,
  ServerError,
  TemporarilyUnavailableError,
  toWire,
} from '../../auth/src/errors.ts';
import { TokenRejected } from '../../auth/src/oidc/access-tokens.ts';

const challenge = {
  resource_metadata: 'https://gw.example/.well-known/oauth-protected-resource/echo/mcp',
  scope: 'mcp',
};

test.each([
  [new InvalidRequestError('x'), 400, 'invalid_request'],
  [new AccessDeniedError('x'), 403, 'access_denied'],
  [new NotFoundError('x'), 404, 'not_found'],
  [new MethodNotAllowedError('GET'), 405, 'invalid_request'],
  [new ContentTooLargeError('x'), 413, 'invalid_request'],
  [new TemporarilyUnavailableError('x'), 503, 'temporarily_unavailable'],
  [new ServerError('x'), 500, 'server_error'],
  [new MissingTokenError(), 401, 'invalid_request'],
  [new InvalidTokenError('x'), 401, 'invalid_token'],
  [new InsufficientScopeError('x'), 403, 'insufficient_scope'],
  [new TokenRejected('expired', 'x'), 401, 'invalid_token'],
] as [GatewayError, number, string][])('%s: status %i, error %s', (err, status, code) => {
  expect(err).toBeInstanceOf(GatewayError);
  const wire = toWire(err);
  expect([wire.status, wire.body.error]).toEqual([status, code]);
});

test('a description becomes error_description; none, no field', () => {
  expect(toWire(new NotFoundError('no such resource')).body).toEqual({
    error: 'not_found',
    error_description: 'no such resource',
  });
  expect(toWire(new NotFoundError()).body).toEqual({ error: 'not_found' });
});

test('errors that carry headers: Allow on 405 (RFC 9110 §15.5.6), Retry-After on 503', () => {
  expect(toWire(new MethodNotAllowedError('GET, POST')).headers).toEqual({ allow: 'GET, POST' });
  expect(toWire(new TemporarilyUnavailableError('x')).headers).toEqual({ 'retry-after': '1' });
  expect(toWire(new InvalidRequestError('x')).headers).toEqual({});
});

describe('with a challenge (a protected resource refusing)', () => {
  test('no token: the challenge has no error code (RFC 6750 §3.1), the body says what is missing', () => {
    const wire = toWire(new MissingTokenError(), undefined, challenge);
    expect(wire.headers['www-authenticate']).toBe(
      `Bearer resource_metadata="${challenge.resource_metadata}", scope="mcp"`,
    );
    expect(wire).toMatchObject({
      status: 401,
      body: { error: 'invalid_request', error_description: 'a Bearer access token is required' },
    });
  });

  test.each([
    [new InvalidTokenError('expired'), 'invalid_token'],
    [new InsufficientScopeError('the access token lacks the scope admin'), 'insufficient_scope'],
    [new InvalidRequestError('the Authorization header is not a valid Bearer token'), 'invalid_request'],
    [new TokenRejected('revoked', 'the access token was revoked'), 'invalid_token'],
  ])('%s: error and error_description after resource_metadata and scope', (err, code) => {
    const wire = toWire(err, undefined, challenge);
    expect(wire.headers['www-authenticate']).toBe(
      `Bearer resource_metadata="${challenge.resource_metadata}", scope="mcp", error="${code}", error_description="${err.description}"`,
    );
  });

  test('without a challenge, no WWW-Authenticate', () => {
    expect(toWire(new InvalidTokenError('x')).headers).toEqual({});
  });
});

test('anything else: a client error from a body parser keeps its status; the rest is a logged 500', () => {
  expect(toWire(Object.assign(new Error('too big'), { status: 413, type: 'entity.too.large' }))).toEqual({
    status: 413,
    headers: {},
    body: { error: 'invalid_request', error_description: 'request body too large' },
  });
  const logged: unknown[] = [];
  const log = { error: (...args: unknown[]) => logged.push(args) } as never;
  expect(toWire(new Error('a bug with a secret'), log)).toEqual({
    status: 500,
    headers: {},
    body: { error: 'server_error', error_description: 'an unexpected error occurred' },
  });
  expect(logged).toHaveLength(1);
});
