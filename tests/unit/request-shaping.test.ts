/** Pure units: what reaches oidc-provider after the gateway has read a client's request. */
import { normalizeOAuthParams, normalizeScope } from '../../auth/src/http/normalize.ts';
import { applyClientPolicy } from '../../auth/src/oidc/client-policy.ts';
import { covers } from '../../auth/src/oidc/consents.ts';
import { canonicalResource, ServiceRegistry } from '../../auth/src/oidc/services.ts';

const base = 'https://mcp.example.com';
const registry = new ServiceRegistry([
  { name: 'echo', resource: `${base}/echo/mcp`, metadataUrl: '', scopes: ['mcp'], edgeSecret: 'e' },
  { name: 'fetch', resource: `${base}/fetch/mcp`, metadataUrl: '', scopes: ['mcp', 'fetch:read'], edgeSecret: 'f' },
]);
const knownScopes = new Set(['openid', 'offline_access', 'profile', 'email', 'mcp', 'fetch:read']);
const ctx = { registry, knownScopes };

describe('canonicalResource', () => {
  test.each([
    [`${base}/echo/mcp`, `${base}/echo/mcp`],
    [`${base}/echo/mcp/`, `${base}/echo/mcp`],
    [`${base}/echo/mcp//`, `${base}/echo/mcp`],
    ['HTTPS://MCP.Example.COM/echo/mcp', `${base}/echo/mcp`],
    ['https://mcp.example.com:443/echo/mcp', `${base}/echo/mcp`],
    ['  https://mcp.example.com/echo/mcp ', `${base}/echo/mcp`],
  ])('%s → %s', (input, expected) => expect(canonicalResource(input)).toBe(expected));

  test.each(['not a url', '/echo/mcp', `${base}/echo/mcp#frag`])('%s is not a resource', (input) =>
    expect(canonicalResource(input)).toBeUndefined(),
  );

  test('path case is significant', () => expect(registry.byResource(`${base}/ECHO/mcp`)).toBeUndefined());
});

describe('normalizeScope', () => {
  const echo = registry.byName('echo');
  test.each([
    [' offline_access', 'offline_access mcp'],
    ['claudeai', 'mcp'],
    [undefined, 'mcp'],
    ['openid  email\tprofile', 'openid email profile mcp'],
    ['mcp mcp', 'mcp'],
  ])('%j → %j', (input, expected) => expect(normalizeScope(input, echo, ctx)).toBe(expected));

  test('a subset of a service scope is kept as asked', () =>
    expect(normalizeScope('fetch:read', registry.byName('fetch'), ctx)).toBe('fetch:read'));

  test('without a service, unknown scopes vanish', () => expect(normalizeScope('x y', undefined, ctx)).toBeUndefined());
});

describe('normalizeOAuthParams', () => {
  test('authorize: resource canonicalised, scope completed', () => {
    const p = new URLSearchParams({ resource: `${base}/echo/mcp/`, scope: 'claudeai' });
    normalizeOAuthParams(p, ctx, 'authorize');
    expect(p.get('resource')).toBe(`${base}/echo/mcp`);
    expect(p.get('scope')).toBe('mcp');
  });

  test('unknown resources pass through for the provider to refuse (invalid_target)', () => {
    const p = new URLSearchParams({ resource: 'https://elsewhere.example/mcp/' });
    normalizeOAuthParams(p, ctx, 'authorize');
    expect(p.get('resource')).toBe('https://elsewhere.example/mcp/');
  });

  test('token, authorization_code: scope untouched', () => {
    const p = new URLSearchParams({ grant_type: 'authorization_code', resource: `${base}/echo/mcp/` });
    normalizeOAuthParams(p, ctx, 'token');
    expect(p.get('resource')).toBe(`${base}/echo/mcp`);
    expect(p.has('scope')).toBe(false);
  });

  test('token, refresh_token with a scope: narrowed, offline_access dropped', () => {
    const p = new URLSearchParams({ grant_type: 'refresh_token', scope: ' offline_access claudeai' });
    normalizeOAuthParams(p, { ...ctx, registry: new ServiceRegistry([registry.byName('echo')!]) }, 'token');
    expect(p.get('scope')).toBe('mcp');
  });
});

describe('client policy', () => {
  test.each([
    [['http://localhost/callback'], 'native'],
    [['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'], 'native'],
    [['cursor://anysphere.cursor-mcp/oauth/callback'], 'native'],
    [['https://claude.ai/api/mcp/auth_callback'], 'web'],
  ])('%j is %s', (redirect_uris, type) => {
    const m: Record<string, unknown> = { redirect_uris, application_type: 'web', grant_types: ['authorization_code'] };
    applyClientPolicy(m, 'registration', { clientLifetime: 0 });
    expect(m.application_type).toBe(type);
    expect(m.grant_types).toEqual(['authorization_code', 'refresh_token']);
  });

  test('registered scopes are not kept; secrets expire with CLIENT_LIFETIME at registration only', () => {
    const m: Record<string, unknown> = {
      redirect_uris: [],
      scope: 'claudeai',
      token_endpoint_auth_method: 'client_secret_post',
    };
    applyClientPolicy(m, 'registration', { clientLifetime: 100 });
    expect(m.scope).toBeUndefined();
    expect(m.client_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 90);
    const loaded: Record<string, unknown> = { redirect_uris: [], token_endpoint_auth_method: 'client_secret_post' };
    applyClientPolicy(loaded, undefined, { clientLifetime: 100 });
    expect(loaded.client_secret_expires_at).toBeUndefined();
  });

  test('public clients get no secret expiry', () => {
    const m: Record<string, unknown> = { redirect_uris: [], token_endpoint_auth_method: 'none' };
    applyClientPolicy(m, 'registration', { clientLifetime: 100 });
    expect(m.client_secret_expires_at).toBeUndefined();
  });

  test('software_id must be a string', () => {
    expect(() => applyClientPolicy({ software_id: 5 }, 'registration', { clientLifetime: 0 })).toThrow(
      expect.objectContaining({ error: 'invalid_client_metadata', error_description: 'software_id must be a string' }),
    );
  });

  test('http redirects off loopback are refused (OAuth 2.1 §2.3.1)', () => {
    expect(() =>
      applyClientPolicy({ redirect_uris: ['http://example.com/cb'] }, 'registration', { clientLifetime: 0 }),
    ).toThrow(expect.objectContaining({ error: 'invalid_redirect_uri' }));
  });
});

describe('remembered consent covers', () => {
  const record = { scopes: ['openid'], claims: [], resources: { [`${base}/echo/mcp`]: ['mcp'] }, at: 0 };
  test('what was allowed', () =>
    expect(covers(record, { scopes: ['openid'], claims: [], resources: { [`${base}/echo/mcp`]: ['mcp'] } })).toBe(
      true,
    ));
  test('not another service', () =>
    expect(covers(record, { scopes: [], claims: [], resources: { [`${base}/fetch/mcp`]: ['mcp'] } })).toBe(false));
  test('not more scopes', () => expect(covers(record, { scopes: ['email'], claims: [], resources: {} })).toBe(false));
  test('nothing without a record', () =>
    expect(covers(undefined, { scopes: [], claims: [], resources: {} })).toBe(false));
});
