/**
 * Black box through `npm start`: the official MCP conformance suite
 * (`@modelcontextprotocol/conformance`, server mode, every scenario) against the gateway's edge
 * at `<gateway>/everything/mcp`, with a token obtained through the full OAuth flow (SDK client +
 * Person at the GitHub stand-in). The suite has no option for request headers, so it targets a
 * small forwarder on 127.0.0.1 that adds `Authorization: Bearer <token>` to every request and
 * streams the answers back. Compared scenario by scenario with the same wrapped server behind
 * the stdio proxy alone (as tests/proxy/conformance.test.ts runs it): every scenario must have
 * the same result through the gateway, and `dns-rebinding-protection` must pass through it.
 *
 * At MCP 2026-07-28 (`--requirements 2026-07-28`: the suite's client never initializes), through
 * the gateway to `/everything/mcp` (the proxy's modern path in front of server-everything over
 * stdio), every scenario both revisions have that server-everything passes at 2025-11-25 on its
 * own Streamable HTTP transport must pass; and `/echo-stateless/mcp` (a native service on the
 * SDK) must pass at 2026-07-28 every scenario it passes at 2025-11-25. `server-sse-polling` (a
 * stream closed with `retry`, the client polling with Last-Event-ID) must give through the gateway
 * what it gives at server-everything's own transport.
 *
 * Authorization mode (`conformance authorization`: authorization-server metadata and the
 * authorization-code grant against our authorization server, the person logging in with headless
 * Chromium at the GitHub stand-in) is in the 0.2.0 line of the suite, pinned in package.json.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../proxy/fixtures/harness.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { freePort, startStack, type Stack } from '../support/stack.ts';
import { Person } from '../support/person.ts';
import { completeAuthorization } from '../support/browser.ts';
import {
  acrossRevisions,
  CONFORMANCE,
  EVERYTHING,
  proxiedReferenceSuite,
  readResults,
  referenceSuite,
  regressions,
  reportFile,
  runServerSuite,
  startReferenceServer,
} from '../support/conformance.ts';
import { connectWithOAuth } from '../support/mcp-client.ts';

/**
 * A forwarder on 127.0.0.1 to `target`'s origin, adding the bearer token. The Host the suite
 * addresses (the forwarder's own) becomes the gateway's; any other Host, and every Origin, goes
 * through unchanged, so the gateway judges the suite's forged ones itself.
 */
async function startBearerForwarder(target: string, token: string): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  let own = '';
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers, authorization: `Bearer ${token}` };
    if (headers.host === own) headers.host = upstream.host;
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        res.on('close', () => answer.destroy());
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    res.on('close', () => out.destroy());
    req.pipe(out);
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  own = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: `http://${own}${upstream.pathname}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let work: string;
let github: GitHubStandin;
let stack: Stack;
let proxy: TestProxy;
let forwarder: { url: string; close(): Promise<void> };
let echoForwarder: { url: string; close(): Promise<void> };
let reference: Awaited<ReturnType<typeof startReferenceServer>>;
let referenceUrl: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'e2e-conformance-'));
  github = await startGitHubStandin();
  [stack, proxy] = await Promise.all([
    startStack({
      github,
      readme: true,
      env: {
        MCP_EVERYTHING_ENABLED: 'true',
        MCP_ECHO_STATELESS_ENABLED: 'true',
        // The suite opens a session per scenario, all as one user, and ends none.
        MCP_EVERYTHING_PROXY_MAX_SESSIONS: '100',
        MCP_EVERYTHING_PROXY_MAX_SESSIONS_PER_USER: '100',
      },
    }),
    startTestProxy({
      command: ['node', EVERYTHING, 'stdio'],
      maxSessions: 100,
      maxSessionsPerUser: 100,
      killGraceMs: 500,
    }),
  ]);
  const serviceUrl = `${stack.url}/everything/mcp`;
  const { client, provider } = await connectWithOAuth(serviceUrl, { person: new Person(stack.url, github) });
  await client.close();
  forwarder = await startBearerForwarder(serviceUrl, provider.tokens()!.access_token);
  const echoUrl = `${stack.url}/echo-stateless/mcp`;
  const echo = await connectWithOAuth(echoUrl, { person: new Person(stack.url, github) });
  await echo.client.close();
  echoForwarder = await startBearerForwarder(echoUrl, echo.provider.tokens()!.access_token);

  // server-everything on its own Streamable HTTP transport: the reference.
  reference = await startReferenceServer(await freePort());
  referenceUrl = reference.url;
}, 60_000);

afterAll(async () => {
  await reference?.stop();
  await echoForwarder?.close();
  await forwarder?.close();
  await Promise.all([stack?.stop(), proxy?.close(), github?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

// The suites' time limits only stop a hung run: slow is not wrong, and on two busy cores (both
// edges' copies of this file may run at once) a whole suite can take minutes. A run cut short
// would read as scenarios missing.
test('through the gateway, every conformance scenario passes that passes without it', async () => {
  const [alone, gateway] = await Promise.all([
    proxiedReferenceSuite(proxy.url, join(work, 'proxy')),
    runServerSuite(forwarder.url, join(work, 'gateway'), 180_000),
  ]);
  const compared = regressions(alone, gateway, ['proxy', 'gateway'], `server-${process.env.GATEWAY_EDGE ?? 'local'}`);
  // On failure the report (every scenario, both verdicts, the failed checks) is named here.
  expect(compared).toEqual({ regressions: [], report: compared.report });
  // The same result for every scenario: the gateway neither breaks nor hides anything.
  const verdicts = (results: typeof alone) => Object.fromEntries([...results].map(([s, r]) => [s, r.passed]));
  expect({ verdicts: verdicts(gateway), report: compared.report }).toEqual({
    verdicts: verdicts(alone),
    report: compared.report,
  });
  expect(gateway.get('dns-rebinding-protection')).toEqual({ passed: true, failures: [] });
}, 240_000);

test('at MCP 2026-07-28 through the gateway: every scenario both revisions have that server-everything passes at 2025-11-25 on its own', async () => {
  const [direct, modern, echo2025, echo2026] = await Promise.all([
    referenceSuite(referenceUrl, join(work, 'reference-2025')),
    runServerSuite(forwarder.url, join(work, 'gateway-2026'), 180_000, '2026-07-28'),
    runServerSuite(echoForwarder.url, join(work, 'echo-2025'), 180_000),
    runServerSuite(echoForwarder.url, join(work, 'echo-2026'), 180_000, '2026-07-28'),
  ]);
  const { both, missed } = acrossRevisions(direct, modern);
  expect(both).toEqual(
    expect.arrayContaining(['tools-list', 'tools-call-simple-text', 'resources-list', 'prompts-list']),
  );
  expect(missed).toEqual([]);
  // The header checks of 2026-07-28 (the edge's own, and the service's behind it).
  expect(modern.get('http-header-validation')).toEqual({ passed: true, failures: [] });

  // echo-stateless, a native service: what it passes at 2025-11-25 it passes at 2026-07-28.
  const echo = acrossRevisions(echo2025, echo2026);
  expect(echo.both).toEqual(expect.arrayContaining(['tools-list', 'dns-rebinding-protection']));
  expect(echo.missed).toEqual([]);
}, 240_000);

test('server-sse-polling: the same result through the gateway as at server-everything on its own', async () => {
  const [direct, gateway] = await Promise.all([
    runServerSuite(referenceUrl, join(work, 'polling-reference'), 120_000, undefined, 'server-sse-polling'),
    runServerSuite(forwarder.url, join(work, 'polling-gateway'), 120_000, undefined, 'server-sse-polling'),
  ]);
  expect(direct.has('server-sse-polling')).toBe(true);
  expect(gateway.get('server-sse-polling')).toEqual(direct.get('server-sse-polling'));
}, 150_000);

test('authorization mode: every scenario passes against our authorization server', async () => {
  const port = await freePort();
  const metadata = (await (await fetch(`${stack.url}/.well-known/oauth-authorization-server`)).json()) as {
    registration_endpoint: string;
  };
  const registered = (await (
    await fetch(metadata.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'conformance suite',
        redirect_uris: [`http://127.0.0.1:${port}/callback`],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      }),
    })
  ).json()) as { client_id: string };
  const outputDir = join(work, 'authorization');
  const child = spawn(
    process.execPath,
    [
      CONFORMANCE,
      'authorization',
      '--url',
      stack.url,
      '--client-id',
      registered.client_id,
      '--resource',
      `${stack.url}/everything/mcp`,
      '-p',
      String(port),
      '-o',
      outputDir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let login: Promise<void> | undefined;
  // The suite prints the authorization URL for a browser and waits for the redirect to its
  // callback: Chromium goes through login, GitHub and consent, and loads that callback.
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    const url = /^(http:\/\/\S+\/authorize\?\S+)$/m.exec(output)?.[1];
    if (url && !login)
      login = completeAuthorization(url, 'octocat')
        .then(() => undefined)
        // The suite records the failed grant; its checks say what went wrong.
        .catch((err: unknown) => void (output += `\nlogin failed: ${String(err)}\n`));
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await once(child, 'exit');
  clearTimeout(timer);
  await login;

  // Here a scenario passes only when every check is a SUCCESS (no warnings either).
  const results = readResults(outputDir, /^authorization-server-/, (c) => c.status !== 'SUCCESS');
  const report = reportFile(`authorization-${process.env.GATEWAY_EDGE ?? 'local'}`);
  writeFileSync(
    report,
    `scenario                                 result\n${[...results].map(([s, r]) => `${s.padEnd(40)} ${r.passed ? 'pass' : r.failures.join(', ')}`).join('\n')}\n`,
  );
  console.log(
    `conformance, authorization mode: ${[...results.values()].filter((r) => r.passed).length}/${results.size} scenarios pass; tables in ${report}`,
  );
  expect([...results.keys()].sort()).toEqual(['authorization-code-grant', 'authorization-server-metadata-endpoint']);
  expect({ failures: [...results.values()].flatMap((r) => r.failures), report }).toEqual({ failures: [], report });
}, 45_000);
