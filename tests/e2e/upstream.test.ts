/**
 * A remote MCP server with OAuth of its own behind the gateway (issue 11), end to end: the stack
 * as `npm start` runs it (with Redis), the upstream stand-in (tests/support/upstream-standin.ts:
 * oidc-provider with dynamic registration, refresh tokens and 10-second access tokens, and an SDK
 * MCP server that introspects them), an SDK client, and a person in headless Chromium.
 * It shows:
 *   - discovery and registration from MCP_<S>_URL and MCP_<S>_AUTH=user alone;
 *   - the two-screen flow: the gateway's login and consent, then the upstream's, then the code;
 *   - tools called through the gateway with the upstream's token, which the client never sees,
 *     and without the identity headers or the edge secret of our own services;
 *   - proactive refresh: no upstream 401 across three access-token lifetimes;
 *   - the upstream grant revoked: the client's next call is the gateway's 401 invalid_token, and
 *     its re-authorization repeats the upstream step and recovers;
 *   - upstream tokens only sealed in Redis;
 *   - the client's gateway grant revoked: the upstream's tokens are revoked at the upstream.
 */
import type { Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { postMcp, TestOAuthProvider } from '../support/mcp-client.ts';
import { authorizeInBrowser, launchBrowser, newPage, startCallbackServer, type PageKind } from '../support/browser.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { startUpstreamStandin, type UpstreamStandin } from '../support/upstream-standin.ts';

const LIFETIME_S = 10;
const PERSON = 'upstream-alice';

let github: GitHubStandin;
let upstream: UpstreamStandin;
let redis: RedisServer;
let stack: Stack;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;

beforeAll(async () => {
  [github, upstream, redis, browser, callback] = await Promise.all([
    startGitHubStandin(),
    startUpstreamStandin({ accessTokenTtl: LIFETIME_S }),
    startRedis(),
    launchBrowser(),
    startCallbackServer(),
  ]);
  stack = await startStack({
    github,
    env: {
      REDIS_URL: redis.url,
      MCP_REMOTE_ENABLED: 'true',
      MCP_REMOTE_URL: upstream.mcpUrl,
      MCP_REMOTE_AUTH: 'user',
    },
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  const code = await stack?.stop();
  await Promise.all([github?.stop(), upstream?.stop(), callback?.stop(), redis?.stop()]);
  expect(code).toBe(0);
});

const serviceUrl = () => `${stack.url}/remote/mcp`;

/** The client's authorization through the gateway in Chromium; the pages the person met. */
async function authorize(provider: TestOAuthProvider): Promise<PageKind[]> {
  const seen: PageKind[] = [];
  const page = await newPage(browser);
  try {
    const back = await authorizeInBrowser(page, provider.authorizationUrl!.href, {
      login: 'octocat',
      consent: 'allow',
      upstreamLogin: PERSON,
      onPage: (kind) => seen.push(kind),
    });
    const code = back.searchParams.get('code');
    if (!code) throw new Error(`no code: ${back.href}`);
    const transport = new StreamableHTTPClientTransport(new URL(serviceUrl()), { authProvider: provider });
    await transport.finishAuth(code);
    return seen;
  } finally {
    await page.context().close();
  }
}

/** A connected SDK client, authorizing first when the gateway asks. */
async function connect(provider: TestOAuthProvider): Promise<{ client: Client; pages: PageKind[] }> {
  let pages: PageKind[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    const client = new Client({ name: 'upstream-e2e', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(serviceUrl()), { authProvider: provider }));
      return { client, pages };
    } catch (err) {
      await client.close();
      if (!(err instanceof UnauthorizedError) || attempt > 0) throw err;
      pages = await authorize(provider);
    }
  }
  throw new Error('not connected');
}

async function whoami(client: Client): Promise<{ sub: string; headers: Record<string, string> }> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  const text = (result.content as { type: string; text: string }[])[0]!.text;
  return JSON.parse(text) as { sub: string; headers: Record<string, string> };
}

let provider: TestOAuthProvider;
beforeAll(() => {
  provider = new TestOAuthProvider('Upstream e2e client', callback.url);
});

test('the two-screen flow: the gateway, then the upstream, then the tools with the upstream token', async () => {
  const { client, pages } = await connect(provider);
  expect(pages).toEqual(['login', 'github', 'consent', 'upstream-login', 'upstream-consent']);
  const me = await whoami(client);
  // The upstream knows the person by its own account, and nothing of our edge.
  expect(me.sub).toBe(PERSON);
  expect(Object.keys(me.headers).filter((h) => h.startsWith('x-user-') || h === 'x-gateway-edge')).toEqual([]);
  expect(me.headers.cookie).toBeUndefined();
  expect(me.headers.host).toBe(new URL(upstream.mcpUrl).host);
  // The client holds only the gateway's token, never one the upstream issued.
  expect(upstream.issued()).not.toContain(provider.saved!.access_token);
  expect(upstream.issued()).not.toContain(provider.saved!.refresh_token);
  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'through the gateway' } });
  expect(echoed.content).toEqual([{ type: 'text', text: 'through the gateway' }]);
  await client.close();
}, 60_000);

test('proactive refresh: calls across three upstream token lifetimes, no upstream 401', async () => {
  const { client } = await connect(provider);
  const before = { ...upstream.unauthorized };
  const tokensBefore = new Set(upstream.accepted).size;
  const end = Date.now() + 3 * LIFETIME_S * 1000 + 1000;
  let calls = 0;
  while (Date.now() < end) {
    expect((await whoami(client)).sub).toBe(PERSON);
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  expect(upstream.unauthorized.inactive).toBe(before.inactive);
  // At least three new access tokens: each refreshed before the last one expired.
  expect(new Set(upstream.accepted).size - tokensBefore).toBeGreaterThanOrEqual(3);
  expect(calls).toBeGreaterThan(3 * LIFETIME_S);
  await client.close();
}, 90_000);

test('upstream tokens are kept only sealed in Redis', async () => {
  const db = new Redis(redis.url);
  try {
    const keys = await db.keys('*');
    expect(keys.some((k) => k.includes('upstream:token:remote:'))).toBe(true);
    const values = await Promise.all(
      keys.map(async (k) =>
        (await db.type(k)) === 'string'
          ? ((await db.get(k)) ?? '')
          : JSON.stringify(await db.smembers(k).catch(() => [])),
      ),
    );
    const everything = keys.join('\n') + values.join('\n');
    const issued = upstream.issued();
    expect(issued.length).toBeGreaterThan(0);
    for (const token of issued) expect(everything).not.toContain(token);
  } finally {
    db.disconnect();
  }
});

test('an upstream grant revoked at the upstream: 401 invalid_token at the client, and re-authorization repeats the upstream step', async () => {
  const { client } = await connect(provider);
  upstream.revokeUser(PERSON);
  // The next call: the upstream refuses, the gateway's refresh is refused, the client is told to authorize again.
  const raw = await postMcp(serviceUrl(), provider.saved!.access_token);
  expect(raw.status).toBe(401);
  const challenge = raw.headers.get('www-authenticate') ?? '';
  expect(challenge).toContain('error="invalid_token"');
  expect(challenge).toContain(`resource_metadata="${stack.url}/.well-known/oauth-protected-resource/remote/mcp"`);
  await client.close();

  // The client's refresh at the gateway is refused (invalid_grant, the grant kept), so it authorizes
  // again: the person signs in (a new browser), the gateway's consent is remembered, and the
  // upstream step is not skipped.
  const reconnected = await connect(provider);
  expect(reconnected.pages).toEqual(['login', 'github', 'upstream-login', 'upstream-consent']);
  expect((await whoami(reconnected.client)).sub).toBe(PERSON);
  await reconnected.client.close();
}, 60_000);

test("revoking the client's grant at the gateway revokes the user's tokens at the upstream", async () => {
  const { client } = await connect(provider);
  await whoami(client);
  await client.close();
  expect(upstream.liveTokens(PERSON)).toBeGreaterThan(0);
  const revoked = await fetch(`${stack.url}/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token: provider.saved!.refresh_token!,
      token_type_hint: 'refresh_token',
      client_id: String(provider.info!.client_id),
    }),
  });
  expect(revoked.status).toBe(200);
  const deadline = Date.now() + 5000;
  while (upstream.liveTokens(PERSON) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(upstream.liveTokens(PERSON)).toBe(0);
  expect(upstream.requests).toContain('POST /token/revocation');
});

test("no upstream token ever reached the gateway's logs", () => {
  const issued = upstream.issued();
  expect(issued.length).toBeGreaterThan(5);
  const output = stack.output();
  for (const token of issued) expect(output).not.toContain(token);
});
