/**
 * Every client behaviour in shared/clients.md, one case each, through real HTTP and the pages.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { decodeJwt, registerOk, tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

let github: GitHubStandin;
let gw: RunningAuth;

beforeAll(async () => {
  github = await startGitHubStandin();
  gw = await startAuth({ github });
});
afterAll(async () => {
  await gw.stop();
  await github.stop();
});

const resource = () => `${gw.url}/echo/mcp`;
const flow = (o: Parameters<typeof runFlow>[0] extends infer T ? Omit<T & object, 'base' | 'github'> : never) =>
  runFlow({ base: gw.url, github, ...o });

describe('redirect URIs', () => {
  test('Claude Code: registered http://localhost/callback without port, called back on a random port (RFC 8252 §7.3)', async () => {
    const client = await registerOk(gw.url, {
      client_name: 'Claude Code',
      redirect_uris: ['http://localhost/callback'],
      token_endpoint_auth_method: 'none',
    });
    expect(client.application_type).toBe('native');
    const r = await flow({ client, params: { redirect_uri: 'http://localhost:51703/callback' } });
    expect(r.redirect.origin).toBe('http://localhost:51703');
    expect(r.token?.status).toBe(200);
  });

  test.each(['127.0.0.1', '[::1]'])('loopback %s matches with any port', async (host) => {
    const client = await registerOk(gw.url, {
      redirect_uris: [`http://${host}:1234/cb`],
      token_endpoint_auth_method: 'none',
    });
    const r = await flow({ client, params: { redirect_uri: `http://${host}:4321/cb` } });
    expect(r.redirect.href.startsWith(`http://${host}:4321/cb?`)).toBe(true);
    expect(r.token?.status).toBe(200);
  });

  test('loopback matching still compares the path exactly', async () => {
    const client = await registerOk(gw.url, {
      redirect_uris: ['http://127.0.0.1:1234/cb'],
      token_endpoint_auth_method: 'none',
    });
    const person = new Person(gw.url, github);
    const page = await person.request(
      `${gw.url}/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent('http://127.0.0.1:1234/other')}&code_challenge=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqr&code_challenge_method=S256`,
    );
    expect(page.status).toBe(400);
    expect(page.body).toContain('redirect_uri');
  });

  test('VS Code: 127.0.0.1:33418 and vscode.dev, no token_endpoint_auth_method (client_secret_basic), another port', async () => {
    const client = await registerOk(gw.url, {
      client_name: 'Visual Studio Code',
      redirect_uris: ['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'],
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(client.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(client.client_secret).toBeTruthy();
    const r = await flow({ client, params: { redirect_uri: 'http://127.0.0.1:33419/' } });
    expect(r.auth.method).toBe('client_secret_basic');
    expect(r.token?.status).toBe(200);
    const web = await flow({ client, params: { redirect_uri: 'https://vscode.dev/redirect' } });
    expect(web.redirect.origin).toBe('https://vscode.dev');
  });

  test('Cursor: a private-use scheme redirect, application_type omitted', async () => {
    const client = await registerOk(gw.url, {
      client_name: 'Cursor',
      redirect_uris: ['cursor://anysphere.cursor-mcp/oauth/callback'],
      token_endpoint_auth_method: 'none',
    });
    expect(client.application_type).toBe('native');
    const r = await flow({ client });
    expect(r.redirect.protocol).toBe('cursor:');
    expect(r.token?.status).toBe(200);
  });

  test('claude.ai: web client with client_secret_post; the final redirect is 302 or 303, never 307', async () => {
    const client = await registerOk(gw.url, {
      client_name: 'Claude',
      redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'],
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'claudeai',
    });
    expect(client.application_type).toBe('web');
    const statuses: number[] = [];
    const person = new Person(gw.url, github);
    const original = person.request.bind(person);
    person.request = async (url, init) => {
      const page = await original(url, init);
      if (page.headers.get('location')?.startsWith('https://claude.ai/')) statuses.push(page.status);
      return page;
    };
    const r = await flow({ client, person, params: { scope: 'claudeai' } });
    expect(statuses.length).toBe(1);
    expect([302, 303]).toContain(statuses[0]);
    expect(r.token?.status).toBe(200);
    expect(r.token?.body.scope?.split(' ')).toContain('mcp');
  });

  test('a web client may not use an http redirect off loopback', async () => {
    const res = await fetch(`${gw.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://evil.example.com/cb'] }),
    });
    const body = (await res.json()) as { error?: string; error_description?: string };
    expect(res.status).toBe(400);
    expect(body.error).toBe('invalid_redirect_uri');
    expect(body.error_description).toMatch(/https/);
  });
});

describe('discovery', () => {
  test('PRM at the path form, resource equal to the service URL', async () => {
    const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource/echo/mcp`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: resource(),
      authorization_servers: [gw.url],
      scopes_supported: ['mcp'],
      bearer_methods_supported: ['header'],
      resource_name: 'echo',
    });
  });

  test('AS metadata at the root and the path-suffixed forms, with what MCP clients require', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server/echo/mcp',
      '/.well-known/openid-configuration/echo/mcp',
    ]) {
      const res = await fetch(gw.url + path);
      expect(res.status).toBe(200);
      const meta = (await res.json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(gw.url);
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
      expect(meta.authorization_response_iss_parameter_supported).toBe(true);
      expect(meta.client_id_metadata_document_supported).toBe(true);
      expect(meta.scopes_supported).toEqual(expect.arrayContaining(['mcp', 'openid', 'offline_access']));
      expect(meta.registration_endpoint).toBe(`${gw.url}/register`);
      expect(meta.token_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['none', 'client_secret_basic', 'client_secret_post']),
      );
    }
  });

  test('unknown service paths are 404 JSON, not a loop', async () => {
    const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource/nope/mcp`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe('not_found');
  });
});

describe('scopes', () => {
  test.each([
    ['offline_access not advertised by the client (Claude Code)', 'mcp offline_access'],
    ['a leading space (claude.ai)', ' offline_access'],
    ['an unknown scope (claude.ai)', 'claudeai'],
    ['OIDC scopes (mcp-remote)', 'openid email profile'],
    ['no scope at all (Codex)', undefined],
  ])('%s: the token carries the service scope and a refresh token', async (_name, scope) => {
    const r = await flow({ params: { scope } });
    expect(r.token?.status).toBe(200);
    expect(r.token?.body.scope?.split(' ')).toContain('mcp');
    expect(r.token?.body.refresh_token).toBeTruthy();
    expect(decodeJwt(r.token!.body.access_token!).payload.scope).toContain('mcp');
  });
});

describe('client authentication at /token', () => {
  test.each(['none', 'client_secret_post', 'client_secret_basic'])('%s as registered', async (method) => {
    const r = await flow({
      metadata: { redirect_uris: ['http://127.0.0.1:9999/callback'], token_endpoint_auth_method: method },
    });
    expect(r.auth.method).toBe(method);
    expect(r.token?.status).toBe(200);
  });

  test('a confidential client without its secret, or with a wrong one, is refused', async () => {
    const client = await registerOk(gw.url, {
      redirect_uris: ['http://127.0.0.1:9999/callback'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    const r = await flow({ client });
    const refresh = { grant_type: 'refresh_token', refresh_token: r.token!.body.refresh_token! };
    const none = await tokenRequest(gw.url, { method: 'none', clientId: client.client_id }, refresh);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_client');
    const wrong = await tokenRequest(
      gw.url,
      { method: 'client_secret_post', clientId: client.client_id, clientSecret: 'nope' },
      refresh,
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
  });

  test('a public client cannot authenticate with a secret it does not have', async () => {
    const client = await registerOk(gw.url, {
      redirect_uris: ['http://127.0.0.1:9999/callback'],
      token_endpoint_auth_method: 'none',
    });
    const r = await flow({ client });
    const res = await tokenRequest(
      gw.url,
      { method: 'client_secret_basic', clientId: client.client_id, clientSecret: 'made-up' },
      { grant_type: 'refresh_token', refresh_token: r.token!.body.refresh_token! },
    );
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });
});

describe('resource parameter', () => {
  test.each([
    ['a trailing slash', (r: string) => `${r}/`],
    ['an upper-case host and scheme', (r: string) => r.replace('http://127.0.0.1', 'HTTP://127.0.0.1')],
  ])('%s: accepted; aud is the canonical identifier', async (_n, vary) => {
    const varied = vary(resource());
    const r = await flow({ params: { resource: varied }, tokenParams: { resource: varied } });
    expect(r.token?.status).toBe(200);
    expect(decodeJwt(r.token!.body.access_token!).payload.aud).toBe(resource());
  });

  test('omitted when one service is enabled: that service', async () => {
    const r = await flow({ params: { resource: undefined } });
    expect(r.token?.status).toBe(200);
    expect(decodeJwt(r.token!.body.access_token!).payload.aud).toBe(resource());
  });
});
