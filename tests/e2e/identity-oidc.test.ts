/**
 * Black box (issue 13): `npm start`'s gateway with an OpenID Connect provider alone (oidc-provider
 * as the stand-in IdP, with its own users), and GitHub and OIDC together. Headless Chromium signs
 * in through the gateway's login page and the IdP's; the MCP SDK client then calls a tool, and the
 * service sees the OIDC identity: X-User-Id `oidc:<sub>`, X-User-Provider, X-User-Groups.
 */
import type { Browser } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startOidcStandin, type OidcStandin } from '../support/oidc-standin.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { TestOAuthProvider } from '../support/mcp-client.ts';
import { authorizeInBrowser, launchBrowser, newPage, startCallbackServer } from '../support/browser.ts';

let idp: OidcStandin;
let github: GitHubStandin;
let oidcOnly: Stack;
let both: Stack;
let browser: Browser;
let callback: Awaited<ReturnType<typeof startCallbackServer>>;

const oidcEnv = (standin: OidcStandin) => ({
  OIDC_ISSUER: standin.issuer,
  OIDC_CLIENT_ID: standin.clientId,
  OIDC_CLIENT_SECRET: standin.clientSecret,
  OIDC_NAME: 'Example SSO',
  OIDC_SCOPES: 'openid email profile groups',
  ALLOWED_GROUPS: 'mcp-users',
  MCP_ECHO_STATEFUL_ENABLED: 'true',
});

beforeAll(async () => {
  idp = await startOidcStandin({
    users: [
      {
        sub: '248289761001',
        preferred_username: 'jane',
        name: 'Jane Doe',
        email: 'jane@example.com',
        email_verified: true,
        groups: ['mcp-users', 'platform'],
      },
    ],
  });
  github = await startGitHubStandin();
  [oidcOnly, both, browser, callback] = await Promise.all([
    startStack({ env: oidcEnv(idp) }),
    startStack({ github, env: oidcEnv(idp) }),
    launchBrowser(),
    startCallbackServer(),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  const codes = await Promise.all([oidcOnly?.stop(), both?.stop()]);
  await idp?.stop();
  await github?.stop();
  await callback?.stop();
  expect(codes).toEqual([0, 0]);
});

/** Chromium through the pages as jane, then the SDK client calls whoami at echo-stateful. */
async function signInAndCall(stack: Stack) {
  idp.setRedirectUri(`${stack.url}/callback/oidc`);
  const service = `${stack.url}/echo-stateful/mcp`;
  const provider = new TestOAuthProvider('oidc-e2e', callback.url);
  const first = new Client({ name: 'oidc-e2e', version: '1.0.0' });
  await expect(
    first.connect(new StreamableHTTPClientTransport(new URL(service), { authProvider: provider })),
  ).rejects.toBeInstanceOf(UnauthorizedError);
  await first.close();
  const page = await newPage(browser);
  const pages: string[] = [];
  try {
    const back = await authorizeInBrowser(page, provider.authorizationUrl!.href, {
      login: '-',
      consent: 'allow',
      oidc: { name: 'Example SSO', user: 'jane' },
      onPage: (kind) => pages.push(kind),
    });
    const transport = new StreamableHTTPClientTransport(new URL(service), { authProvider: provider });
    await transport.finishAuth(back.searchParams.get('code')!);
    const client = new Client({ name: 'oidc-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(service), { authProvider: provider }));
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    const text = (result.content as { type: string; text: string }[])[0]!.text;
    return { pages, seen: JSON.parse(text) as { identity: Record<string, unknown>; headers: Record<string, string> } };
  } finally {
    await page.close();
  }
}

test('an OIDC provider alone: Chromium signs in at it, the service sees the OIDC identity', async () => {
  const { pages, seen } = await signInAndCall(oidcOnly);
  expect(pages).toEqual(['login', 'oidc', 'consent']);
  expect(seen.identity).toMatchObject({
    id: 'oidc:248289761001',
    login: 'jane',
    name: 'Jane Doe',
    email: 'jane@example.com',
    provider: 'oidc',
    groups: ['mcp-users', 'platform'],
  });
  expect(seen.headers.authorization).toBeUndefined();
});

test('GitHub and OIDC together: the login page offers both, and the OIDC user is told apart by prefix', async () => {
  const { seen } = await signInAndCall(both);
  expect(seen.identity.id).toBe('oidc:248289761001');
  const html = await loginPageOf(both);
  expect(html).toContain('Continue with GitHub');
  expect(html).toContain('Continue with Example SSO');
});

/** The login page a new authorization lands on. */
async function loginPageOf(stack: Stack): Promise<string> {
  const provider = new TestOAuthProvider('oidc-e2e', callback.url);
  const client = new Client({ name: 'oidc-e2e', version: '1.0.0' });
  await expect(
    client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.url}/echo-stateful/mcp`), { authProvider: provider }),
    ),
  ).rejects.toBeInstanceOf(UnauthorizedError);
  await client.close();
  const page = await newPage(browser);
  try {
    await page.goto(provider.authorizationUrl!.href);
    return await page.content();
  } finally {
    await page.close();
  }
}
