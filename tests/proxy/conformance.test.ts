/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode, every
 * scenario) against (a) the proxy wrapping the reference server `server-everything` over stdio,
 * and (b) that same server's own Streamable HTTP transport. Whatever passes for the reference
 * must pass through the proxy, scenario by scenario; and the same at 2026-07-28, through the
 * proxy's modern path, for the scenarios both revisions have. (Many scenarios call tools of the
 * suite's own test server, which server-everything does not have: they fail for both.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from './fixtures/harness.ts';
import {
  acrossRevisions,
  EVERYTHING,
  proxiedReferenceSuite,
  referenceSuite,
  regressions,
  runServerSuite,
  startReferenceServer,
} from '../support/conformance.ts';
import { freePort } from '../../auth/src/http/free-port.ts';

let work: string;
let reference: Awaited<ReturnType<typeof startReferenceServer>>;
let referenceUrl: string;
let proxy: TestProxy;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'proxy-conformance-'));
  const port = await freePort();
  reference = await startReferenceServer(port);
  referenceUrl = reference.url;
  proxy = await startTestProxy({
    command: ['node', EVERYTHING, 'stdio'],
    // The suite opens a session per scenario, all as one (anonymous) user, and ends none.
    maxSessions: 100,
    maxSessionsPerUser: 100,
    killGraceMs: 500,
  });
});

afterAll(async () => {
  await reference?.stop();
  await proxy?.close();
  rmSync(work, { recursive: true, force: true });
});

test('the proxy passes every conformance scenario the reference server passes', async () => {
  const [direct, proxied] = await Promise.all([
    referenceSuite(referenceUrl, join(work, 'reference')),
    proxiedReferenceSuite(proxy.url, join(work, 'proxy')),
  ]);
  const compared = regressions(direct, proxied, ['reference', 'proxy'], 'proxy');
  expect(compared).toEqual({ regressions: [], report: compared.report });
}, 240_000);

test('at MCP 2026-07-28, through the proxy, every scenario both revisions have that the reference passes at 2025-11-25', async () => {
  const [direct, modern] = await Promise.all([
    referenceSuite(referenceUrl, join(work, 'reference-2025')),
    // The suite's client is pinned to 2026-07-28 here: it never initializes; the proxy's modern
    // path serves it from a child it initialized itself.
    runServerSuite(proxy.url, join(work, 'proxy-2026'), 180_000, '2026-07-28'),
  ]);
  const { both, missed } = acrossRevisions(direct, modern);
  expect(both).toEqual(
    expect.arrayContaining(['tools-list', 'tools-call-simple-text', 'resources-list', 'prompts-list']),
  );
  expect(missed).toEqual([]);
}, 240_000);
