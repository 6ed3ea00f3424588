/**
 * Several services on one gateway: a token is for exactly one of them; consent is remembered
 * per (user, client) and asked again when a client wants more.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { DEFAULT_METADATA, runFlow } from '../support/flow.ts';
import { decodeJwt, registerOk, tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

let github: GitHubStandin;
let gw: RunningAuth;

beforeAll(async () => {
  github = await startGitHubStandin();
  gw = await startAuth({ github, env: { MCP_FETCH_ENABLED: 'true', MCP_FETCH_SCOPES: 'mcp fetch:read' } });
});
afterAll(async () => {
  await gw.stop();
  await github.stop();
});

test('without a resource, several services: invalid_target naming them', async () => {
  const r = await runFlow({ base: gw.url, github, params: { resource: undefined } });
  expect(r.redirect.searchParams.get('error')).toBe('invalid_target');
  expect(r.redirect.searchParams.get('error_description')).toMatch(
    /resource parameter is required.*\/echo\/mcp.*\/fetch\/mcp/,
  );
});

test('a token names one service; asking the token endpoint for another is invalid_target', async () => {
  const r = await runFlow({ base: gw.url, github, params: { resource: `${gw.url}/fetch/mcp`, scope: undefined } });
  expect(r.token?.status).toBe(200);
  const { payload } = decodeJwt(r.token!.body.access_token!);
  expect(payload.aud).toBe(`${gw.url}/fetch/mcp`);
  expect(String(payload.scope).split(' ').sort()).toEqual(['fetch:read', 'mcp']);
  const other = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: r.token!.body.refresh_token!,
    resource: `${gw.url}/echo/mcp`,
  });
  expect(other.status).toBe(400);
  expect(other.body.error).toBe('invalid_target');
});

test('both resources authorized at once still give one audience per token', async () => {
  const both = [`${gw.url}/echo/mcp`, `${gw.url}/fetch/mcp`];
  const r = await runFlow({
    base: gw.url,
    github,
    params: { resource: both, scope: 'mcp' },
    tokenParams: { resource: `${gw.url}/echo/mcp` },
  });
  expect(r.token?.status).toBe(200);
  expect(decodeJwt(r.token!.body.access_token!).payload.aud).toBe(`${gw.url}/echo/mcp`);
  const refreshed = await tokenRequest(gw.url, r.auth, {
    grant_type: 'refresh_token',
    refresh_token: r.token!.body.refresh_token!,
    resource: `${gw.url}/fetch/mcp`,
  });
  expect(refreshed.status).toBe(200);
  expect(decodeJwt(refreshed.body.access_token!).payload.aud).toBe(`${gw.url}/fetch/mcp`);
});

describe('consent', () => {
  test('remembered per (user, client): a second authorization shows no consent page, even in a new browser', async () => {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    const first = await runFlow({ base: gw.url, github, client });
    expect(first.person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent']);
    const again = await runFlow({ base: gw.url, github, client, person: first.person });
    expect(again.person.seen.slice(3).map((s) => s.kind)).toEqual([]);
    expect(again.token?.status).toBe(200);
    const fresh = await runFlow({ base: gw.url, github, client });
    expect(fresh.person.seen.map((s) => s.kind)).toEqual(['login', 'github']);
    expect(fresh.token?.status).toBe(200);
  });

  // OpenID Connect Core 1.0 §3.1.2.1: prompt=consent asks the person again, whatever was remembered.
  test('prompt=consent shows the page even when this user already allowed this client', async () => {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    const person = new Person(gw.url, github);
    await runFlow({ base: gw.url, github, client, person });
    await runFlow({ base: gw.url, github, client, person });
    expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent']);
    let page = '';
    const again = await runFlow({
      base: gw.url,
      github,
      client,
      person,
      params: { prompt: 'consent' },
      authorize: { onPage: (kind, p) => void (kind === 'consent' && (page = p.body)) },
    });
    expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent', 'consent']);
    expect(again.token?.status).toBe(200);
    // The page lists what the client asks for, although nothing is new.
    expect(page).toContain('echo');
    const denied = await runFlow({
      base: gw.url,
      github,
      client,
      person,
      params: { prompt: 'consent' },
      authorize: { consent: 'deny' },
    });
    expect(denied.redirect.searchParams.get('error')).toBe('access_denied');
    expect(gw.logs.filter((l) => l.msg === 'consent denied').at(-1)).toMatchObject({ client: client.client_id });
  });

  // OpenID Connect Core 1.0 §3.1.2.6: prompt=none cannot show a page, so the error says what was needed.
  test('prompt=none when consent is needed: consent_required (interaction_required for a native client), no page', async () => {
    const web = await registerOk(gw.url, {
      ...DEFAULT_METADATA,
      redirect_uris: ['https://app.example.com/callback'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    const native = await registerOk(gw.url, DEFAULT_METADATA);
    const person = new Person(gw.url, github);
    // Logged in (through another client) but neither client was ever allowed.
    await runFlow({ base: gw.url, github, person });
    const seen = person.seen.length;
    const r = await runFlow({ base: gw.url, github, client: web, person, params: { prompt: 'none' } });
    expect(r.redirect.searchParams.get('error')).toBe('consent_required');
    // oidc-provider asks a native (loopback redirect) client's user every time it cannot remember
    // for them: without a page, that is interaction_required.
    const n = await runFlow({ base: gw.url, github, client: native, person, params: { prompt: 'none' } });
    expect(n.redirect.searchParams.get('error')).toBe('interaction_required');
    expect(person.seen.length).toBe(seen);
  });

  test('asked again for another service, and for another client', async () => {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    const person = new Person(gw.url, github);
    await runFlow({ base: gw.url, github, client, person });
    await runFlow({ base: gw.url, github, client, person, params: { resource: `${gw.url}/fetch/mcp` } });
    expect(person.seen.map((s) => s.kind)).toEqual(['login', 'github', 'consent', 'consent']);
    const otherClient = await registerOk(gw.url, DEFAULT_METADATA);
    await runFlow({ base: gw.url, github, client: otherClient, person });
    expect(person.seen.map((s) => s.kind).at(-1)).toBe('consent');
  });

  test('the consent page names the client, the redirect host, the service and the user', async () => {
    const client = await registerOk(gw.url, {
      ...DEFAULT_METADATA,
      client_name: 'Claude <Desktop>',
      redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    let consent = '';
    await runFlow({
      base: gw.url,
      github,
      client,
      authorize: { onPage: (kind, page) => void (kind === 'consent' && (consent = page.body)) },
    });
    expect(consent).toContain('Claude &lt;Desktop&gt;');
    expect(consent).toContain('claude.ai');
    expect(consent).toContain('echo');
    expect(consent).toContain('octocat');
  });

  test('deny: access_denied back at the client', async () => {
    const r = await runFlow({ base: gw.url, github, authorize: { consent: 'deny' } });
    expect(r.redirect.searchParams.get('error')).toBe('access_denied');
    expect(r.token).toBeUndefined();
  });

  /** A person at the consent page of a new client: its form's target and CSRF token. */
  async function atConsent() {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    let form = { url: '', csrf: '' };
    const person = new Person(gw.url, github);
    await expect(
      runFlow({
        base: gw.url,
        github,
        client,
        person,
        authorize: {
          onPage: (kind, page) => {
            if (kind === 'consent') {
              form = {
                url: new URL(/<form[^>]*action="([^"]+)"/.exec(page.body)![1]!, gw.url).href,
                csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1]!,
              };
              throw new Error('stop');
            }
          },
        },
      }),
    ).rejects.toThrow('stop');
    return { person, ...form };
  }

  test('a consent POST without the CSRF token is refused', async () => {
    const { person, url } = await atConsent();
    const forged = await person.request(url, { form: { decision: 'allow', csrf: 'forged' } });
    expect(forged.status).toBe(403);
  });

  test('a consent POST with the right CSRF token from another site is refused; a no-referrer form is not', async () => {
    const { person, url, csrf } = await atConsent();
    const form = { decision: 'allow', csrf };
    const post = (headers: Record<string, string>) => person.request(url, { form, headers });
    expect((await post({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' })).status).toBe(403);
    // A sandboxed frame elsewhere also says "null", but the browser says cross-site.
    expect((await post({ origin: 'null', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // Our own page under `Referrer-Policy: no-referrer`, as Chromium sends it.
    const ours = await post({ origin: 'null', 'sec-fetch-site': 'same-origin' });
    expect(ours.status).toBe(303);
  });
});

describe('RFC 7592 client management', () => {
  test('read, update and delete with the registration access token', async () => {
    const client = await registerOk(gw.url, DEFAULT_METADATA);
    expect(client.registration_client_uri).toBe(`${gw.url}/register/${client.client_id}`);
    const auth = { authorization: `Bearer ${client.registration_access_token}` };
    const read = await fetch(client.registration_client_uri!, { headers: auth });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { client_name: string }).client_name).toBe('Test client');

    const update = await fetch(client.registration_client_uri!, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...DEFAULT_METADATA, client_id: client.client_id, client_name: 'Renamed' }),
    });
    expect(update.status).toBe(200);
    const updated = (await update.json()) as { client_name: string; registration_access_token: string };
    expect(updated.client_name).toBe('Renamed');

    const unauthorized = await fetch(client.registration_client_uri!, { headers: { authorization: 'Bearer wrong' } });
    expect(unauthorized.status).toBe(401);

    const del = await fetch(client.registration_client_uri!, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${updated.registration_access_token}` },
    });
    expect(del.status).toBe(204);
    const gone = await tokenRequest(
      gw.url,
      { method: 'none', clientId: client.client_id },
      { grant_type: 'refresh_token', refresh_token: 'x' },
    );
    expect(gone.body.error).toBe('invalid_client');
  });
});

test('deleting a client (RFC 7592) ends its grants: its access tokens turn inactive at once', async () => {
  const r = await runFlow({ base: gw.url, github });
  const { client } = r;
  const del = await fetch(client.registration_client_uri!, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${client.registration_access_token}` },
  });
  expect(del.status).toBe(204);
  const grantId = String(decodeJwt(r.token!.body.access_token!).payload.gid);
  expect(await gw.store.get(`oidc:Grant:${grantId}`)).toBeUndefined();
});
