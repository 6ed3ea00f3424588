/**
 * A person with a real browser: headless Debian Chromium (through playwright-core, no browser
 * download) clicking through the gateway's login page, the GitHub stand-in's authorize page and
 * the consent page by their labelled buttons, up to the client's redirect URI, where the client
 * listens (`startCallbackServer` for tests whose client does not).
 */
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserServer, type Page, type Request } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Debian's Chromium; one per test file, closed in afterAll. With BROWSER_WS_ENDPOINT (set by a
 * test for the processes it starts, see `launchBrowserServer`), a connection to that running
 * Chromium instead: each page still has a context, and cookies, of its own.
 */
export function launchBrowser(): Promise<Browser> {
  const shared = process.env.BROWSER_WS_ENDPOINT;
  if (shared) return chromium.connect(shared);
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** One Chromium that several processes connect to (BROWSER_WS_ENDPOINT = its `wsEndpoint()`). */
export function launchBrowserServer(): Promise<BrowserServer> {
  return chromium.launchServer({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** A fresh page (own cookies) at the size of the committed screenshots. */
export async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 900, height: 1000 }, colorScheme: 'light' });
  // As navigate() below: a loaded machine is slow, not wrong (a click waits for the navigation it starts).
  context.setDefaultTimeout(60_000);
  return context.newPage();
}

export type PageKind = 'login' | 'local-login' | 'github' | 'oidc' | 'consent' | 'upstream-login' | 'upstream-consent';

export interface BrowserAuthorizeOptions {
  /** The account to pick on the GitHub stand-in's authorize page. */
  login: string;
  /** Sign in as the local user with this password instead of GitHub. */
  password?: string;
  /**
   * Sign in with the OpenID Connect provider instead of GitHub: its button's label (OIDC_NAME),
   * and the user to pick on the stand-in's page (tests/support/oidc-standin.ts).
   */
  oidc?: { name: string; user: string };
  consent: 'allow' | 'deny';
  /**
   * The account to sign in as at a remote MCP server's own authorization server (the two-screen
   * flow: oidc-provider's development login and consent pages in the upstream stand-in).
   */
  upstreamLogin?: string;
  /** A directory: a PNG of each page (login or local-login, github, consent) is saved there. */
  screenshots?: string;
  /** Only these pages are saved (default: every one). */
  screenshotPages?: PageKind[];
  /** Told of each page as the person reaches it. */
  onPage?: (kind: PageKind) => void;
}

/** The browser ended up on a page it has no answer for (an error page); the page stays open on it. */
export class UnexpectedPageError extends Error {
  readonly url: string;
  readonly heading: string;
  constructor(url: string, heading: string, text: string) {
    super(`unexpected page at ${url}: ${text.replace(/\s+/g, ' ').slice(0, 400)}`);
    this.url = url;
    this.heading = heading;
  }
}

/**
 * Goes through an authorization URL as a person would and returns the URL the gateway finally
 * sends the browser to: the client's redirect URI (taken from the authorization URL) with its
 * code or error.
 */
export async function authorizeInBrowser(
  page: Page,
  authorizationUrl: string,
  options: BrowserAuthorizeOptions,
): Promise<URL> {
  const redirectUri = new URL(new URL(authorizationUrl).searchParams.get('redirect_uri') ?? '');
  // A request event is emitted for every hop of a redirect chain (page.route is not).
  let back: URL | undefined;
  const onRequest = (request: Request) => {
    const url = new URL(request.url());
    if (url.origin === redirectUri.origin && url.pathname === redirectUri.pathname) back ??= url;
  };
  page.on('request', onRequest);
  const shot = async (name: PageKind) => {
    options.onPage?.(name);
    if (!options.screenshots || (options.screenshotPages && !options.screenshotPages.includes(name))) return;
    await mkdir(options.screenshots, { recursive: true });
    await page.screenshot({ path: join(options.screenshots, `${name}.png`) });
  };
  /** Runs an action that navigates, and waits for the next document to load. */
  const navigate = async (action: () => Promise<unknown>) => {
    // Generous: the conformance suite runs fourteen gateways and Chromiums at once on two cores.
    const loaded = page.waitForEvent('load', { timeout: 60_000 });
    loaded.catch(() => undefined); // awaited below; when the action throws, its error is the one
    await action();
    await loaded;
  };

  try {
    await navigate(() => page.goto(authorizationUrl));
    for (let step = 0; step < 10; step++) {
      if (back) return back;
      const githubButton = page.getByRole('button', { name: `Authorize as ${options.login}`, exact: true });
      const githubLink = page.getByRole('link', { name: 'Continue with GitHub' });
      const password = page.getByLabel('Password');
      const allow = page.getByRole('button', { name: 'Allow', exact: true });
      const upstreamSignIn = page.getByRole('button', { name: 'Sign-in', exact: true });
      const upstreamContinue = page.getByRole('button', { name: 'Continue', exact: true });
      const oidcButton = page.getByRole('button', { name: `Sign in as ${options.oidc?.user ?? '-'}`, exact: true });
      const oidcLink = page.getByRole('link', { name: `Continue with ${options.oidc?.name ?? '-'}` });
      if (options.oidc && (await oidcButton.count())) {
        await shot('oidc');
        await navigate(() => oidcButton.click());
      } else if (options.oidc && (await oidcLink.count())) {
        await shot('login');
        await navigate(() => oidcLink.click());
      } else if (await githubButton.count()) {
        await shot('github');
        await navigate(() => githubButton.click());
      } else if (await allow.count()) {
        await shot('consent');
        const button = options.consent === 'allow' ? allow : page.getByRole('button', { name: 'Deny', exact: true });
        await navigate(() => button.click());
      } else if (options.password !== undefined && (await password.count())) {
        await shot('local-login');
        await password.fill(options.password);
        await navigate(() => page.getByRole('button', { name: 'Sign in', exact: true }).click());
      } else if (options.password === undefined && !options.oidc && (await githubLink.count())) {
        await shot('login');
        await navigate(() => githubLink.click());
      } else if (options.upstreamLogin !== undefined && (await upstreamSignIn.count())) {
        await shot('upstream-login');
        await page.locator('input[name="login"]').fill(options.upstreamLogin);
        await page.locator('input[name="password"]').fill('any password');
        await navigate(() => upstreamSignIn.click());
      } else if (options.upstreamLogin !== undefined && (await upstreamContinue.count())) {
        await shot('upstream-consent');
        await navigate(() => upstreamContinue.click());
      } else {
        const heading =
          (await page
            .locator('h1')
            .first()
            .textContent({ timeout: 1_000 })
            .catch(() => '')) ?? '';
        throw new UnexpectedPageError(page.url(), heading.trim(), await page.locator('body').innerText());
      }
    }
    if (back) return back;
    throw new Error('the authorization did not finish');
  } finally {
    page.off('request', onRequest);
  }
}

/**
 * For hooks that only get a URL (mcp-remote's BROWSER): its own browser, GitHub login as `login`,
 * Allow; the redirect reaches the client that listens on it. Returns that redirect URL.
 */
export async function completeAuthorization(
  authorizationUrl: string,
  login: string,
  options: Partial<BrowserAuthorizeOptions> = {},
): Promise<URL> {
  const browser = await launchBrowser();
  try {
    const page = await newPage(browser);
    return await authorizeInBrowser(page, authorizationUrl, { consent: 'allow', ...options, login });
  } finally {
    await browser.close();
  }
}

/** A client's loopback redirect target: answers every request with a "you can close this window" page. */
export async function startCallbackServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Signed in</title><p>You can close this window.</p></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
