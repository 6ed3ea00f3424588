/**
 * The official conformance suite's client mode with the gateway as the client under test (issue
 * 11): `conformance client --command "node tests/conformance/client-driver.ts"` — the driver starts
 * the gateway with the scenario's server as a remote MCP server, plays its user in Chromium and
 * calls a tool through it. What is checked is what the gateway did as an OAuth client of the
 * scenario's authorization server: discovery, registration, PKCE, resource, scopes, RFC 9207,
 * client authentication, machine credentials.
 * Every scenario that applies to a server-side client must pass with no failure and no warning;
 * the ones that cannot apply are listed below with the reason (docs/upstreams.md says the same).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserServer } from 'playwright-core';
import { launchBrowserServer } from '../support/browser.ts';
import { CONFORMANCE } from '../support/conformance.ts';

const DRIVER = join(process.cwd(), 'tests/conformance/client-driver.ts');

/** Warnings that cannot apply to a gateway, by `<scenario>:<check>`, with the reason. */
const NOT_APPLICABLE: Record<string, string> = {
  // The scenario's authorization server expects its own fixed client id,
  // https://conformance-test.local/client-metadata.json. A Client ID Metadata Document's URL is the
  // client's own (draft-ietf-oauth-client-id-metadata-document §3: the client_id is the URL where
  // the client publishes its metadata); the gateway's is $PUBLIC_URL/.well-known/oauth-client/<S>,
  // which it uses here (the scenario's server accepts it; the check only warns).
  'basic-cimd:cimd-client-id-used':
    'the client id of a Client ID Metadata Document is the URL of the client’s own document, not the scenario’s',
};

/** Scenarios run one by one, besides `--suite auth`: machine credentials, 2025-03-26, the 2026-07-28 ones. */
const SCENARIOS = [
  'auth/client-credentials-basic',
  'auth/client-credentials-jwt',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/iss-supported',
  'auth/iss-not-advertised',
  'auth/iss-supported-missing',
  'auth/iss-wrong-issuer',
  'auth/iss-unexpected',
  'auth/iss-normalized',
  'auth/metadata-issuer-mismatch',
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  // Its server speaks only 2026-07-28: the driver's client (the official v2 SDK) negotiates it.
  'auth/authorization-server-migration',
];

let out: string;
// One Chromium for every scenario's driver (each has its own context): not thirty launches.
let browser: BrowserServer;
beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'conformance-client-'));
  browser = await launchBrowserServer();
});
afterAll(async () => {
  rmSync(out, { recursive: true, force: true });
  await browser?.close();
});

function run(args: string[], dir: string): Promise<string> {
  return new Promise((resolve) => {
    // The CLI exits 1 when a scenario fails: the verdict is in the results directory.
    execFile(
      process.execPath,
      // Each scenario's client runs a gateway and a Chromium; with the whole suite in parallel on
      // two cores, the CLI's default 30 s is too short for the slowest.
      [CONFORMANCE, 'client', '--command', `${process.execPath} ${DRIVER}`, '--timeout', '120000', ...args, '-o', dir],
      {
        timeout: 240_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, BROWSER_WS_ENDPOINT: browser.wsEndpoint() },
      },
      (_err, stdout, stderr) => resolve(`${stdout}\n${stderr}`),
    );
  });
}

interface Check {
  id: string;
  status: string;
  description?: string;
}

/** Every scenario's checks that are neither a success nor an information, nor listed above. */
function problems(dir: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const root = join(dir, 'auth');
  for (const entry of existsSync(root) ? readdirSync(root) : []) {
    const scenario = entry.replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
    const file = join(root, entry, 'checks.json');
    if (!existsSync(file)) continue;
    const checks = JSON.parse(readFileSync(file, 'utf8')) as Check[];
    const failed = checks
      .filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO' && !NOT_APPLICABLE[`${scenario}:${c.id}`])
      .map((c) => `${c.id}: ${c.status} ${c.description ?? ''}`);
    // What the driver said (the gateway's warnings, its error), so that a failure explains itself.
    const stderr = join(root, entry, 'stderr.txt');
    if (failed.length && existsSync(stderr)) failed.push(`driver stderr: ${readFileSync(stderr, 'utf8').slice(-3000)}`);
    found.set(scenario, failed);
  }
  return found;
}

test('client --suite auth: every scenario passes, the gateway as the client', async () => {
  const dir = join(out, 'suite');
  const output = await run(['--suite', 'auth'], dir);
  const found = problems(dir);
  if (found.size < 14) throw new Error(`only ${found.size} scenarios ran:\n${output.slice(-4000)}`);
  expect(Object.fromEntries([...found].filter(([, p]) => p.length))).toEqual({});
}, 300_000);

test('machine credentials, 2025-03-26 fallbacks, and the authorization checks of 2026-07-28', async () => {
  const found = new Map<string, string[]>();
  // Three at a time: each runs a gateway and a Chromium.
  for (let i = 0; i < SCENARIOS.length; i += 3) {
    const batch = SCENARIOS.slice(i, i + 3);
    await Promise.all(
      batch.map(async (scenario) => {
        const dir = join(out, scenario.replace('/', '-'));
        await run(['--scenario', scenario], dir);
        for (const [name, p] of problems(dir)) found.set(name, p);
      }),
    );
  }
  expect([...found.keys()].sort()).toEqual(SCENARIOS.map((s) => s.replace('auth/', '')).sort());
  expect(Object.fromEntries([...found].filter(([, p]) => p.length))).toEqual({});
}, 300_000);
