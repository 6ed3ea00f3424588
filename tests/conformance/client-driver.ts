/**
 * The gateway as the client under test of the official conformance suite's client mode
 * (`conformance client --command "node tests/conformance/client-driver.ts" …`, issue 11). The suite
 * starts a scenario's MCP server (and its authorization server) and runs this with the server's
 * URL as the last argument, the scenario in MCP_CONFORMANCE_SCENARIO and, for machine credentials,
 * the client's credentials in MCP_CONFORMANCE_CONTEXT. This driver:
 *   1. starts the gateway (`npm start`'s edge and auth service, in this process, on loopback, its
 *      local user) with that server as `MCP_UP_URL`: `MCP_UP_AUTH=user`, or
 *      `client_credentials` with the context's secret or private key (pre-registered clients
 *      too), and nothing else: discovery and registration are the gateway's;
 *   2. plays an MCP client of the gateway (the official v2 SDK client, negotiating 2025 or
 *      2026-07-28 as the scenario's server speaks) and its user: headless Chromium
 *      through the gateway's login and consent, then the upstream step, which the scenario's
 *      authorization server answers at once;
 *   3. lists the tools through the gateway and calls the first one, then exits 0 (1 on failure).
 * What the scenario checks is what the gateway did as a client of its servers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { createAuthService } from '../../auth/src/app.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { createEdge } from '../../auth/src/edge/edge.ts';
import { remoteUpstream } from '../../auth/src/edge/children.ts';
import { LocalUser } from '../../auth/src/identity/local.ts';
import { createLogger } from '../../auth/src/log.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { authorizeInBrowser, launchBrowser, newPage, startCallbackServer } from '../support/browser.ts';
import { TestOAuthProvider } from '../support/mcp-client.ts';

const PASSWORD = 'conformance driver password';

/** The gateway's settings for the scenario's server. */
export function upstreamSettings(serverUrl: string, context: Record<string, unknown>): Record<string, string> {
  const base = { MCP_UP_ENABLED: 'true', MCP_UP_URL: serverUrl };
  const id = typeof context.client_id === 'string' ? context.client_id : undefined;
  if (id && typeof context.private_key_pem === 'string') {
    const dir = mkdtempSync(join(tmpdir(), 'conformance-driver-'));
    writeFileSync(join(dir, 'client.key'), context.private_key_pem, { mode: 0o600 });
    return {
      ...base,
      MCP_UP_AUTH: 'client_credentials',
      MCP_UP_CLIENT_ID: id,
      MCP_UP_CLIENT_KEY: join(dir, 'client.key'),
    };
  }
  if (id && typeof context.client_secret === 'string') {
    // A machine client (client-credentials-*), or a pre-registered client for the user's flow.
    const machine = String(context.name ?? '').includes('client-credentials');
    return {
      ...base,
      MCP_UP_AUTH: machine ? 'client_credentials' : 'user',
      MCP_UP_CLIENT_ID: id,
      MCP_UP_CLIENT_SECRET: context.client_secret,
    };
  }
  return { ...base, MCP_UP_AUTH: 'user' };
}

async function main(): Promise<void> {
  const serverUrl = process.argv.at(-1) ?? '';
  const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as Record<string, unknown>;
  // Bound before the port is known to the configuration: the suite runs its scenarios in
  // parallel, and a port picked then released (freePort) could be taken by another driver first.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const publicUrl = `http://localhost:${port}`;
  const config = loadConfig({
    PUBLIC_URL: publicUrl,
    PORT: String(port),
    LOG_LEVEL: process.env.DRIVER_LOG_LEVEL ?? 'warn',
    LOG_FORMAT: 'json',
    ...upstreamSettings(serverUrl, context),
  });
  const logger = createLogger(config.logLevel);
  const store = new MemoryStore();
  const auth = await createAuthService({ config, store, logger, localUser: new LocalUser({ password: PASSWORD }) });
  const upstreams = new Map(config.services.map((s) => [s.name, remoteUpstream(s.upstreamUrl!, s.remote)]));
  server.on(
    'request',
    createEdge({ config, decider: auth.decider, auth: auth.app, upstreams, remotes: auth.upstreams, logger }),
  );
  const [browser, callback] = await Promise.all([launchBrowser(), startCallbackServer()]);
  try {
    const provider = new TestOAuthProvider('conformance driver', callback.url);
    const url = new URL(`${publicUrl}/up/mcp`);
    const transport = () => new StreamableHTTPClientTransport(url, { authProvider: provider });
    // Both eras: the scenario's server speaks 2025 or 2026-07-28 (the official v2 client negotiates).
    const newClient = () =>
      new Client({ name: 'conformance-driver', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    /** The person through the gateway's pages (and the upstream's, which answer at once). */
    const authorize = async () => {
      if (!provider.authorizationUrl) throw new Error('the gateway did not send the client to authorize');
      const page = await newPage(browser);
      const back = await authorizeInBrowser(page, provider.authorizationUrl.href, {
        login: 'local',
        password: PASSWORD,
        consent: 'allow',
      });
      await page.context().close();
      if (!back.searchParams.get('code')) throw new Error(`no code: ${back.href}`);
      provider.authorizationUrl = undefined;
      // The whole callback: the client checks the gateway's `iss` (RFC 9207) before the code.
      await transport().finishAuth(back.searchParams);
    };
    // The client authorizes when told to (401, or 403 insufficient_scope: step-up), then goes on.
    let client: Client | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        client ??= newClient();
        if (!client.transport) await client.connect(transport());
        const { tools } = await client.listTools();
        if (tools[0]) await client.callTool({ name: tools[0].name, arguments: {} });
        break;
      } catch (err) {
        if (!(err instanceof UnauthorizedError) || attempt >= 3) throw err;
        await client?.close().catch(() => undefined);
        client = undefined;
        await authorize();
      }
    }
    await client.close();
  } finally {
    await browser.close();
    await callback.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
  }
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(1);
    },
  );
}
