/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, server mode, every
 * scenario) against (a) the proxy wrapping the reference server `server-everything` over stdio,
 * and (b) that same server's own Streamable HTTP transport. Whatever passes for the reference
 * must pass through the proxy, scenario by scenario. (Many scenarios call tools of the suite's
 * own test server, which server-everything does not have: they fail for both.)
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startTestProxy, type TestProxy } from './fixtures/harness.ts';

const EVERYTHING = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const CONFORMANCE = join(REPO_ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

type Results = Map<string, { passed: boolean; failures: string[] }>;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs every scenario against `url`; a scenario passes when none of its checks is a FAILURE. */
async function runSuite(url: string, outputDir: string): Promise<Results> {
  await new Promise<void>((resolve) => {
    // The CLI exits 1 when any scenario fails: the results are in the output directory.
    execFile(
      process.execPath,
      [CONFORMANCE, 'server', '--url', url, '--suite', 'all', '-o', outputDir],
      { timeout: 100_000 },
      () => resolve(),
    );
  });
  const results: Results = new Map();
  for (const dir of readdirSync(outputDir)) {
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
    const checks = JSON.parse(readFileSync(join(outputDir, dir, 'checks.json'), 'utf8')) as {
      id: string;
      status: string;
    }[];
    const failures = checks.filter((c) => c.status === 'FAILURE').map((c) => c.id);
    results.set(scenario, { passed: failures.length === 0, failures });
  }
  return results;
}

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
    runSuite(referenceUrl, join(work, 'reference')),
    runSuite(proxy.url, join(work, 'proxy')),
  ]);
  const rows = [...direct.keys()].map((scenario) => {
    const mark = (r?: { passed: boolean }) => (r === undefined ? 'missing' : r.passed ? 'pass' : 'FAIL');
    return `${scenario.padEnd(32)} ${mark(direct.get(scenario)).padEnd(8)} ${mark(proxied.get(scenario))}`;
  });
  console.log(`scenario                         reference proxy\n${rows.join('\n')}`);

  expect(direct.size).toBeGreaterThan(20);
  expect([...proxied.keys()].sort()).toEqual([...direct.keys()].sort());
  // The comparison means something only if the reference passes the basics.
  for (const basic of ['server-initialize', 'ping', 'tools-list', 'resources-list', 'prompts-list']) {
    expect(direct.get(basic)?.passed).toBe(true);
  }
  const regressions = [...direct]
    .filter(([scenario, result]) => result.passed && !proxied.get(scenario)?.passed)
    .map(([scenario]) => `${scenario}: ${proxied.get(scenario)?.failures.join(', ')}`);
  expect(regressions).toEqual([]);
}, 120_000);
