/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
 * package.json) run as its CLI, and its results compared scenario by scenario.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedResult } from './shared-result.ts';

export const CONFORMANCE = join(process.cwd(), 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
/** The reference server, server-everything. */
export const EVERYTHING = join(process.cwd(), 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/**
 * server-everything on its own Streamable HTTP transport (the reference the suites compare with),
 * on `port` of 127.0.0.1, once it answers; `stop()` ends it.
 */
export async function startReferenceServer(port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  for (let tries = 0; ; tries++) {
    const up = await fetch(url, { method: 'OPTIONS' }).then(
      () => true,
      () => false,
    );
    if (up) return { url, stop };
    if (tries > 100) {
      await stop();
      throw new Error('server-everything (streamableHttp) did not start');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export type Results = Map<string, { passed: boolean; failures: string[] }>;

interface Check {
  id: string;
  status: string;
}

/**
 * Reads a results directory: one sub-directory per scenario (named `<prefix><scenario>-<time>`)
 * holding checks.json. A scenario passes when none of its checks is a FAILURE. A directory
 * without checks.json is not a scenario's results (the suite writes such for scenarios that do
 * not apply).
 */
export function readResults(
  outputDir: string,
  prefix: RegExp,
  failing = (c: Check) => c.status === 'FAILURE',
): Results {
  const results: Results = new Map();
  for (const dir of readdirSync(outputDir)) {
    if (!existsSync(join(outputDir, dir, 'checks.json'))) continue;
    const scenario = dir.replace(prefix, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '');
    const checks = JSON.parse(readFileSync(join(outputDir, dir, 'checks.json'), 'utf8')) as Check[];
    const failures = checks.filter(failing).map((c) => `${c.id}: ${c.status}`);
    results.set(scenario, { passed: failures.length === 0, failures });
  }
  return results;
}

/**
 * `conformance server --suite all` against `url`; with `requirements`, exactly the scenarios that
 * protocol revision requires (`--requirements 2026-07-28`); with `scenario`, that one only.
 */
export async function runServerSuite(
  url: string,
  outputDir: string,
  timeoutMs: number,
  requirements?: string,
  scenario?: string,
): Promise<Results> {
  const which = scenario
    ? ['--scenario', scenario]
    : requirements
      ? ['--requirements', requirements]
      : ['--suite', 'all'];
  await new Promise<void>((resolve) => {
    // The CLI exits 1 when any scenario fails: the results are in the output directory.
    execFile(
      process.execPath,
      [CONFORMANCE, 'server', '--url', url, ...which, '-o', outputDir],
      { timeout: timeoutMs, killSignal: 'SIGKILL' },
      () => resolve(),
    );
  });
  return readResults(outputDir, /^server-/);
}

/**
 * The baselines: `--suite all` against server-everything on its own Streamable HTTP transport, and
 * against the proxy wrapping it over stdio (started as both suites start it: 100 sessions, one
 * user). Their verdicts do not depend on the file asking, so one run of each serves every file of
 * the test run (shared-result.ts): three files and both edges' copies of one used to run them
 * seven times.
 */
const SUITE_LIMIT_MS = 180_000;
const shared = async (key: string, run: () => Promise<Results>): Promise<Results> =>
  new Map(await sharedResult(key, async () => [...(await run())]));
export const referenceSuite = (url: string, outputDir: string): Promise<Results> =>
  shared('server-everything-suite-all', () => runServerSuite(url, outputDir, SUITE_LIMIT_MS));
export const proxiedReferenceSuite = (url: string, outputDir: string): Promise<Results> =>
  shared('proxied-server-everything-suite-all', () => runServerSuite(url, outputDir, SUITE_LIMIT_MS));

/** Where the full tables of a comparison are kept (outside the test's own temporary directory). */
export function reportFile(name: string): string {
  const dir = join(tmpdir(), 'mcp-oauth-gateway-conformance');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.txt`);
}

/**
 * Compares a candidate's results with a baseline's: writes both side by side to `reportFile(name)`,
 * prints one line (how many scenarios get the same verdict), checks that every baseline scenario ran and
 * that the baseline passes the basics (or the comparison means nothing), and returns every
 * scenario that passes for the baseline and not for the candidate, and the report's path.
 */
export function regressions(
  baseline: Results,
  candidate: Results,
  labels: [string, string],
  name: string,
): { regressions: string[]; report: string } {
  const mark = (r?: { passed: boolean }) => (r === undefined ? 'missing' : r.passed ? 'pass' : 'FAIL');
  const scenarios = [...new Set([...baseline.keys(), ...candidate.keys()])];
  const rows = scenarios.map(
    (s) =>
      `${s.padEnd(46)} ${mark(baseline.get(s)).padEnd(10)} ${mark(candidate.get(s)).padEnd(10)} ${candidate.get(s)?.failures.join(', ') ?? ''}`,
  );
  const report = reportFile(name);
  writeFileSync(
    report,
    `${'scenario'.padEnd(46)} ${labels[0].padEnd(10)} ${labels[1].padEnd(10)} ${labels[1]}'s failed checks\n${rows.join('\n')}\n`,
  );
  const same = scenarios.filter((s) => mark(baseline.get(s)) === mark(candidate.get(s)));
  const better = scenarios.filter((s) => !baseline.get(s)?.passed && candidate.get(s)?.passed);
  console.log(
    `conformance, ${labels[1]}: same verdict as the reference (${labels[0]}): ${same.length}/${scenarios.length}` +
      (better.length ? ` (passes where the ${labels[0]} fails: ${better.join(', ')})` : '') +
      `; tables in ${report}`,
  );
  expect(baseline.size).toBeGreaterThan(20);
  // Every scenario run against the baseline ran against the candidate too. The candidate may run
  // more: a candidate that speaks 2026-07-28 where the baseline does not (the stdio proxy, in
  // front of a server that does not) is given the scenarios its discovery answer makes apply.
  expect([...baseline.keys()].filter((s) => !candidate.has(s))).toEqual([]);
  for (const basic of ['server-initialize', 'ping', 'tools-list', 'resources-list', 'prompts-list']) {
    expect(baseline.get(basic)?.passed).toBe(true);
  }
  return {
    regressions: [...baseline]
      .filter(([scenario, result]) => result.passed && !candidate.get(scenario)?.passed)
      .map(([scenario]) => `${scenario}: ${candidate.get(scenario)?.failures.join(', ')}`),
    report,
  };
}

/**
 * The scenarios both runs have (`both`), and those of them `earlier` passes and `later` does not
 * (`missed`, with the failed checks): a 2025-11-25 baseline against a 2026-07-28 candidate.
 */
export function acrossRevisions(earlier: Results, later: Results): { both: string[]; missed: string[] } {
  const both = [...earlier.keys()].filter((s) => later.has(s));
  const missed = both
    .filter((s) => earlier.get(s)!.passed && !later.get(s)!.passed)
    .map((s) => `${s}: ${later.get(s)!.failures.join(', ')}`);
  return { both, missed };
}
