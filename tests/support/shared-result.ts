/**
 * A result computed once per test run and shared by every test file that asks for it: the first
 * file to ask computes it, the others wait for it and read it. For results that do not depend on
 * the asking file, such as the conformance suite's verdicts for server-everything on its own, which
 * three files (and both edges' copies of one) compare against.
 *
 * The run is the Jest process whose workers run the files (their parent, named by its pid and start
 * time, so a recycled pid is another run). A file that computes and fails leaves no result: the next
 * one to ask computes it. A file that waits longer than `waitMs` computes it itself.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function runDirectory(): string {
  let started = 'unknown';
  try {
    // /proc/<pid>/stat, field 22: the process's start time, after the parenthesised command name.
    started = readFileSync(`/proc/${process.ppid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;
  } catch {
    started = String(process.ppid) + '-' + Date.now(); // not Linux: nothing is shared, nothing goes wrong
  }
  return join(tmpdir(), 'mcp-oauth-gateway-shared', `${process.ppid}-${started}`);
}

export async function sharedResult<T>(key: string, compute: () => Promise<T>, waitMs = 300_000): Promise<T> {
  const dir = runDirectory();
  mkdirSync(dir, { recursive: true });
  const result = join(dir, `${key}.json`);
  const lock = join(dir, `${key}.lock`);
  const read = () => JSON.parse(readFileSync(result, 'utf8')) as T;
  for (const until = Date.now() + waitMs; Date.now() < until;) {
    if (existsSync(result)) return read();
    let mine: number | undefined;
    try {
      mine = openSync(lock, 'wx');
    } catch {
      // Another file computes it: wait for its result, or for its lock to go (it failed).
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    closeSync(mine);
    try {
      const value = await compute();
      writeFileSync(`${result}.tmp`, JSON.stringify(value));
      renameSync(`${result}.tmp`, result);
      return value;
    } finally {
      rmSync(lock, { force: true });
    }
  }
  return compute();
}
