/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
 * package.json) run as its CLI, and its results compared scenario by scenario.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CONFORMANCE = join(process.cwd(), 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

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

/** `conformance server --suite all` against `url`. */
export async function runServerSuite(url: string, outputDir: string, timeoutMs: number): Promise<Results> {
  await new Promise<void>((resolve) => {
    // The CLI exits 1 when any scenario fails: the results are in the output directory.
    execFile(
      process.execPath,
      [CONFORMANCE, 'server', '--url', url, '--suite', 'all', '-o', outputDir],
      { timeout: timeoutMs, killSignal: 'SIGKILL' },
      () => resolve(),
    );
  });
  return readResults(outputDir, /^server-/);
}

/**
 * Compares a candidate's results with a baseline's: prints both side by side and checks that the
 * same scenarios ran, that the baseline passes the basics (or the comparison means nothing),
 * and returns every scenario that passes for the baseline and not for the candidate.
 */
export function regressions(baseline: Results, candidate: Results, labels: [string, string]): string[] {
  const mark = (r?: { passed: boolean }) => (r === undefined ? 'missing' : r.passed ? 'pass' : 'FAIL');
  const rows = [...new Set([...baseline.keys(), ...candidate.keys()])].map(
    (s) => `${s.padEnd(46)} ${mark(baseline.get(s)).padEnd(10)} ${mark(candidate.get(s))}`,
  );
  console.log(`${'scenario'.padEnd(46)} ${labels[0].padEnd(10)} ${labels[1]}\n${rows.join('\n')}`);
  expect(baseline.size).toBeGreaterThan(20);
  expect([...candidate.keys()].sort()).toEqual([...baseline.keys()].sort());
  for (const basic of ['server-initialize', 'ping', 'tools-list', 'resources-list', 'prompts-list']) {
    expect(baseline.get(basic)?.passed).toBe(true);
  }
  return [...baseline]
    .filter(([scenario, result]) => result.passed && !candidate.get(scenario)?.passed)
    .map(([scenario]) => `${scenario}: ${candidate.get(scenario)?.failures.join(', ')}`);
}
