/**
 * Black box with a real browser: headless Chromium clicks through the gateway's pages and the
 * GitHub stand-in's authorize page for an MCP SDK client, which then calls a tool as octocat.
 * Every page loads without console errors and talks to no host but the gateway and the
 * stand-in. With SCREENSHOTS_DIR set, a PNG of each page is saved there (docs/screenshots).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { TestOAuthProvider } from '../support/mcp-client.ts';
import {
  authorizeInBrowser,
  launchBrowser,
  newPage,
  startCallbackServer,
  UnexpectedPageError,
  type BrowserAuthorizeOptions,
} from '../support/browser.ts';

const SCREENSHOTS = process.env.SCREENSHOTS_DIR || undefined;

let github: GitHubStandin;
let stack: Stack;
let local: Stack;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;

/** The SDK test client, redirected to a loopback server of this test (as a desktop client would). */

beforeAll(async () => {
  github = await startGitHubStandin();
  github.addUser({ id: 1002, login: 'mallory', name: 'Mallory', email: 'mallory@example.com' });
  const env = { MCP_ECHO_STATEFUL_ENABLED: 'true' };
  [stack, local, browser, callback] = await Promise.all([
    startStack({ github, env }),
    // The README's quick start, exactly: `cp .env.example .env && npm start` (no GitHub app).
    startStack({ readme: true }),
    launchBrowser(),
    startCallbackServer(),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  const codes = await Promise.all([stack?.stop(), local?.stop()]);
  await github?.stop();
  await callback?.stop();
  expect(codes).toEqual([0, 0]);
  // SIGTERM to `npm start` reached the gateway itself: nothing is left listening.
  await expect(fetch(local.url)).rejects.toThrow();
});

/** Console errors, failed page scripts and the origins of every request a page makes. */
function watch(page: Page) {
  const errors: string[] = [];
  const origins = new Set<string>();
  page.on('console', (msg) => {
    const at = new URL(msg.location().url);
    // Chromium asks every origin for /favicon.ico on its own; the pages link none.
    if (msg.type() === 'error' && at.pathname !== '/favicon.ico') errors.push(`${msg.text()} at ${at.pathname}`);
  });
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('request', (req) => origins.add(new URL(req.url()).origin));
  return { errors, origins };
}

/** The SDK client's first attempt: it registers and hands over an authorization URL. */
async function authorizationUrlFor(serviceUrl: string, provider: TestOAuthProvider): Promise<URL> {
  const client = new Client({ name: 'browser-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(serviceUrl), { authProvider: provider });
  await expect(client.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  await client.close();
  return provider.authorizationUrl!;
}

/** The whole SDK flow with the browser in the middle; resolves to the connected client. */
async function connectInBrowser(gateway: Stack, page: Page, options: BrowserAuthorizeOptions) {
  const serviceUrl = `${gateway.url}/echo-stateful/mcp`;
  const provider = new TestOAuthProvider('Browser test client', callback.url);
  const url = await authorizationUrlFor(serviceUrl, provider);
  const back = await authorizeInBrowser(page, url.href, options);
  expect(`${back.origin}${back.pathname}`).toBe(callback.url);
  expect(back.searchParams.get('state')).toBe(url.searchParams.get('state'));
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`authorization failed: ${back.href}`);
  const transport = new StreamableHTTPClientTransport(new URL(serviceUrl), { authProvider: provider });
  await transport.finishAuth(code);
  const client = new Client({ name: 'browser-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serviceUrl), { authProvider: provider }));
  return { client, provider };
}

async function whoami(client: Client): Promise<Record<string, string>> {
  const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
  return (JSON.parse(result.content[0]!.text) as { identity: Record<string, string> }).identity;
}

const redirectOrigin = () => new URL(callback.url).origin;

test('an SDK client, a person clicking through login, GitHub and consent; whoami is octocat', async () => {
  const page = await newPage(browser);
  const seen = watch(page);
  const { client, provider } = await connectInBrowser(stack, page, {
    login: 'octocat',
    consent: 'allow',
    screenshots: SCREENSHOTS,
  });
  const identity = await whoami(client);
  expect(identity).toMatchObject({ login: 'octocat', provider: 'github', clientId: provider.info!.client_id });
  await client.close();
  expect(seen.errors).toEqual([]);
  expect([...seen.origins].sort()).toEqual([github.baseUrl, stack.url, redirectOrigin()].sort());
  await page.context().close();
});

test('Deny at consent: the client gets error=access_denied', async () => {
  const page = await newPage(browser);
  const seen = watch(page);
  const provider = new TestOAuthProvider('Browser test client', callback.url);
  const url = await authorizationUrlFor(`${stack.url}/echo-stateful/mcp`, provider);
  const back = await authorizeInBrowser(page, url.href, { login: 'octocat', consent: 'deny' });
  expect(`${back.origin}${back.pathname}`).toBe(callback.url);
  expect(back.searchParams.get('error')).toBe('access_denied');
  expect(back.searchParams.get('code')).toBeNull();
  expect(back.searchParams.get('state')).toBe(url.searchParams.get('state'));
  expect(seen.errors).toEqual([]);
  expect([...seen.origins].sort()).toEqual([github.baseUrl, stack.url, redirectOrigin()].sort());
  await page.context().close();
});

test('a GitHub user not in ALLOWED_GITHUB_USERS sees the "not allowed" page', async () => {
  const page = await newPage(browser);
  const seen = watch(page);
  const provider = new TestOAuthProvider('Browser test client', callback.url);
  const url = await authorizationUrlFor(`${stack.url}/echo-stateful/mcp`, provider);
  const refused = await authorizeInBrowser(page, url.href, { login: 'mallory', consent: 'allow' }).catch(
    (err: unknown) => err,
  );
  expect(refused).toBeInstanceOf(UnexpectedPageError);
  expect((refused as UnexpectedPageError).heading).toBe('Access not allowed');
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Access not allowed');
  expect(await page.getByText('The account mallory is not allowed to use this gateway.').isVisible()).toBe(true);
  if (SCREENSHOTS) {
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'not-allowed.png') });
  }
  // The error page is answered with 403, which Chromium reports on the console; nothing else.
  expect(seen.errors).toEqual([
    expect.stringMatching(
      /^Failed to load resource: the server responded with a status of 403 \(Forbidden\) at \/interaction\/[^/]+\/login\/complete$/,
    ),
  ]);
  expect([...seen.origins].sort()).toEqual([github.baseUrl, stack.url].sort());
  await page.context().close();
});

test('`cp .env.example .env && npm start`: the local user signs in with the printed password', async () => {
  // The banner comes once the logs are flushed, after "gateway listening".
  const password = (await local.waitForOutput(/password: (\S+)/))[1];
  expect(password).toBeTruthy();
  const page = await newPage(browser);
  const seen = watch(page);
  const { client } = await connectInBrowser(local, page, {
    login: 'local',
    password: password!,
    consent: 'allow',
    screenshots: SCREENSHOTS,
    screenshotPages: ['local-login'],
  });
  const identity = await whoami(client);
  expect(identity.provider).toBe('local');
  await client.close();
  expect(seen.errors).toEqual([]);
  expect([...seen.origins].sort()).toEqual([local.url, redirectOrigin()].sort());
  await page.context().close();
});
