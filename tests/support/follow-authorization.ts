/**
 * A browser for MCP clients that open one: give this script the authorization URL and headless
 * Chromium does what a person at a browser would. It goes through the gateway's login page (as the
 * local user of `npm start` when FOLLOW_PASSWORD is set, else through GitHub's authorize page, the
 * tests' stand-in, as `octocat`) and the consent page (Allow), and ends on the URL the gateway
 * finally redirects to, the client's loopback callback, so the client's listener receives the code.
 *
 *   node tests/support/follow-authorization.ts <authorization-url>
 *
 * Environment:
 *   FOLLOW_PASSWORD      the local user's password, as `npm start` printed it (the quick start,
 *                        without a GitHub app)
 *   FOLLOW_LOGIN         the GitHub login to approve (default octocat)
 *   FOLLOW_LOG           a file to append what happened to (clients start browsers with their
 *                        output discarded; this is the only way to see a failure)
 *
 * mcp-remote and the MCP Inspector open URLs with the `open` package, whose bundled `xdg-open`
 * runs `$BROWSER <url>` when there is no desktop: point BROWSER at a one-line shell wrapper
 * around this script (see tests/e2e/clients.test.ts). Exits 0 once the callback page loaded.
 */
import { appendFileSync } from 'node:fs';
import { completeAuthorization } from './browser.ts';

const log = (line: string) => {
  const file = process.env.FOLLOW_LOG;
  const stamped = `${new Date().toISOString()} [${process.pid}] ${line}\n`;
  if (file) appendFileSync(file, stamped);
  process.stderr.write(stamped);
};

export async function followAuthorization(authorizationUrl: string): Promise<URL> {
  // completeAuthorization returns once the browser has loaded the client's callback page.
  const seen: string[] = [];
  const back = await completeAuthorization(authorizationUrl, process.env.FOLLOW_LOGIN ?? 'octocat', {
    password: process.env.FOLLOW_PASSWORD || undefined,
    onPage: (kind) => seen.push(kind),
  });
  log(`pages: ${seen.join(' → ')}; callback page loaded at ${back.origin}${back.pathname}`);
  if (!back.searchParams.get('code')) throw new Error(`no code in the redirect: ${back.href}`);
  return back;
}

if (import.meta.filename === process.argv[1]) {
  const url = process.argv[2];
  if (!url) {
    log('usage: node tests/support/follow-authorization.ts <authorization-url>');
    process.exit(2);
  }
  log(`opening ${url}`);
  // A browser left hanging would outlive the test: give up after a minute.
  setTimeout(() => {
    log('failed: gave up after 60 s');
    process.exit(1);
  }, 60_000).unref();
  followAuthorization(url).then(
    () => process.exit(0),
    (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    },
  );
}
