/**
 * A GitHub-shaped remote MCP server (issue 11, docs/upstreams.md "GitHub"): its authorization
 * server is a GitHub OAuth app (the GitHub stand-in, a second one, as a separate app) that publishes
 * no metadata and issues no refresh token, so the gateway is given explicit endpoints and a
 * pre-registered client; the MCP server (the official SDK) accepts a token when GitHub's API says
 * whose it is. The person signs in at the gateway with GitHub, allows, authorizes the upstream app
 * (both pages in Chromium), and calls a tool as themselves at the upstream.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  authorizeInBrowser,
  launchBrowser,
  newPage,
  startCallbackServer,
  UnexpectedPageError,
  type PageKind,
} from '../support/browser.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { TestOAuthProvider } from '../support/mcp-client.ts';
import { startStack, type Stack } from '../support/stack.ts';

let login: GitHubStandin;
let app: GitHubStandin;
let mcp: Server;
let mcpUrl: string;
let stack: Stack;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;
/** Authorization headers the MCP server saw. */
const seen: string[] = [];

beforeAll(async () => {
  [login, app, browser, callback] = await Promise.all([
    startGitHubStandin(),
    startGitHubStandin({ clientId: 'Iv1.upstreamapp', clientSecret: 'upstream app secret', appName: 'GitHub MCP' }),
    launchBrowser(),
    startCallbackServer(),
  ]);
  mcp = createServer((req, res) => {
    void (async () => {
      const authorization = req.headers.authorization ?? '';
      seen.push(authorization);
      // Whose token is it? GitHub's API says (GET /user); no metadata, no challenge parameters.
      const user = authorization
        ? await fetch(`${app.apiUrl}/user`, { headers: { authorization } }).then((r) =>
            r.ok ? (r.json() as Promise<{ login: string }>) : undefined,
          )
        : undefined;
      if (!user) return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      const server = new McpServer({ name: 'github-shaped', version: '1.0.0' });
      server.registerTool('whoami', { description: 'The GitHub user of the token.' }, () => ({
        content: [{ type: 'text', text: user.login }],
      }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => mcp.listen(0, '127.0.0.1', resolve));
  mcpUrl = `http://127.0.0.1:${(mcp.address() as AddressInfo).port}/mcp/`;
  stack = await startStack({
    github: login,
    env: {
      MCP_GITHUB_ENABLED: 'true',
      MCP_GITHUB_URL: mcpUrl,
      MCP_GITHUB_AUTH: 'user',
      MCP_GITHUB_CLIENT_ID: app.clientId,
      MCP_GITHUB_CLIENT_SECRET: app.clientSecret,
      MCP_GITHUB_AUTHORIZATION_URL: `${app.baseUrl}/login/oauth/authorize`,
      MCP_GITHUB_TOKEN_URL: `${app.baseUrl}/login/oauth/access_token`,
      MCP_GITHUB_SCOPE: 'repo read:org',
      // The same app with a wrong secret: GitHub refuses the code exchange.
      MCP_BADGH_ENABLED: 'true',
      MCP_BADGH_URL: mcpUrl,
      MCP_BADGH_AUTH: 'user',
      MCP_BADGH_CLIENT_ID: app.clientId,
      MCP_BADGH_CLIENT_SECRET: 'not the secret',
      MCP_BADGH_AUTHORIZATION_URL: `${app.baseUrl}/login/oauth/authorize`,
      MCP_BADGH_TOKEN_URL: `${app.baseUrl}/login/oauth/access_token`,
    },
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  const code = await stack?.stop();
  mcp?.closeAllConnections();
  await Promise.all([login?.stop(), app?.stop(), callback?.stop(), new Promise((r) => mcp?.close(r))]);
  expect(code).toBe(0);
});

test('GitHub login at the gateway, the GitHub app authorized once, tools called as that user', async () => {
  const provider = new TestOAuthProvider('GitHub-shaped client', callback.url);
  const url = new URL(`${stack.url}/github/mcp`);
  const probe = new Client({ name: 'github-shaped', version: '1.0.0' });
  await expect(probe.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))).rejects.toThrow();

  const page = await newPage(browser);
  const pages: PageKind[] = [];
  const upstreamPages: string[] = [];
  page.on('load', () => {
    if (page.url().startsWith(app.baseUrl)) upstreamPages.push(new URL(page.url()).pathname);
  });
  const back = await authorizeInBrowser(page, provider.authorizationUrl!.href, {
    login: 'octocat',
    consent: 'allow',
    onPage: (kind) => pages.push(kind),
  });
  // The gateway's GitHub login, its consent, then the upstream app's own authorize page.
  expect(pages).toEqual(['login', 'github', 'consent', 'github']);
  expect(upstreamPages).toEqual(['/login/oauth/authorize']);
  await page.context().close();
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(back.searchParams.get('code')!);

  const client = new Client({ name: 'github-shaped', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  expect(result.content).toEqual([{ type: 'text', text: 'octocat' }]);
  await client.close();
  // The app's token went upstream, as GitHub issues it (gho_…); never the gateway's own.
  expect(seen.at(-1)).toMatch(/^Bearer gho_/);
  expect(seen).not.toContain(`Bearer ${provider.saved!.access_token}`);
  // Nothing was discovered: the explicit endpoints were used, GitHub's metadata never asked for.
  expect(app.requests.filter((r) => r.includes('.well-known'))).toEqual([]);
  expect(app.requests).toEqual(
    expect.arrayContaining(['GET /login/oauth/authorize', 'POST /login/oauth/access_token']),
  );
}, 60_000);

test('the upstream refuses the gateway (wrong client secret): a page naming it and why, and the application gets access_denied', async () => {
  const provider = new TestOAuthProvider('Refused client', callback.url);
  const url = new URL(`${stack.url}/badgh/mcp`);
  const probe = new Client({ name: 'refused', version: '1.0.0' });
  await expect(probe.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }))).rejects.toThrow();
  const page = await newPage(browser);
  try {
    const failed = await authorizeInBrowser(page, provider.authorizationUrl!.href, {
      login: 'octocat',
      consent: 'allow',
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(UnexpectedPageError);
    expect((failed as UnexpectedPageError).heading).toBe('badgh: the server refused the gateway');
    const text = await page.locator('main').innerText();
    expect(text).toContain('incorrect_client_credentials');
    expect(text).toContain('Nothing was stored and the application was not given access to badgh.');
    // Back to the application, which learns that access was denied (no code).
    const back = page.waitForRequest((r) => r.url().startsWith(callback.url));
    await page.getByRole('link', { name: 'Return to the application' }).click();
    const answer = new URL((await back).url());
    expect(answer.searchParams.get('error')).toBe('access_denied');
    expect(answer.searchParams.get('code')).toBeNull();
  } finally {
    await page.context().close();
  }
}, 60_000);
