/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode, every
 * scenario) against (a) the proxy wrapping the reference server `server-everything` over stdio,
 * and (b) that same server's own Streamable HTTP transport. Whatever passes for the reference
 * must pass through the proxy, scenario by scenario; and the same at 2026-07-28, through the
 * proxy's modern path, for the scenarios both revisions have. (Many scenarios call tools of the
 * suite's own test server, which server-everything does not have: they fail for both.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startTestProxy, type TestProxy } from './fixtures/harness.ts';
import { regressions, runServerSuite } from '../support/conformance.ts';
import { freePort } from '../../auth/src/http/free-port.ts';

const EVERYTHING = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

let work: string;
let reference: ChildProcess;
let referenceUrl: string;
let proxy: TestProxy;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'proxy-conformance-'));
  const port = await freePort();
  reference = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  referenceUrl = `http://127.0.0.1:${port}/mcp`;
  proxy = await startTestProxy({
    command: ['node', EVERYTHING, 'stdio'],
    // The suite opens a session per scenario, all as one (anonymous) user, and ends none.
    maxSessions: 100,
    maxSessionsPerUser: 100,
    killGraceMs: 500,
  });
  for (let tries = 0; ; tries++) {
    const ok = await fetch(referenceUrl, { method: 'OPTIONS' }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (tries > 100) throw new Error('server-everything (streamableHttp) did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  const exited = reference.exitCode === null ? once(reference, 'exit') : Promise.resolve();
  reference.kill('SIGTERM');
  await exited;
  await proxy.close();
  rmSync(work, { recursive: true, force: true });
});

test('the proxy passes every conformance scenario the reference server passes', async () => {
  const [direct, proxied] = await Promise.all([
    runServerSuite(referenceUrl, join(work, 'reference'), 100_000),
    runServerSuite(proxy.url, join(work, 'proxy'), 100_000),
  ]);
  const compared = regressions(direct, proxied, ['reference', 'proxy'], 'proxy');
  expect(compared).toEqual({ regressions: [], report: compared.report });
}, 120_000);

test('at MCP 2026-07-28, through the proxy, every scenario both revisions have that the reference passes at 2025-11-25', async () => {
  const [direct, modern] = await Promise.all([
    runServerSuite(referenceUrl, join(work, 'reference-2025'), 100_000),
    // The suite's client is pinned to 2026-07-28 here: it never initializes; the proxy's modern
    // path serves it from a child it initialized itself.
    runServerSuite(proxy.url, join(work, 'proxy-2026'), 100_000, '2026-07-28'),
  ]);
  const both = [...direct.keys()].filter((s) => modern.has(s));
  expect(both).toEqual(
    expect.arrayContaining(['tools-list', 'tools-call-simple-text', 'resources-list', 'prompts-list']),
  );
  const missed = both
    .filter((s) => direct.get(s)!.passed && !modern.get(s)!.passed)
    .map((s) => `${s}: ${modern.get(s)!.failures.join(', ')}`);
  expect(missed).toEqual([]);
}, 120_000);
