/**
 * What the benchmarks read of /proc (Linux): CPU seconds of a process and of the whole machine,
 * and the line that says how busy the machine was before a run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * CPU seconds (user + system) of a process: its own, and those of its exited (reaped) children.
 * Undefined when it cannot be read (the process is gone, or this is not Linux).
 */
export function cpuOf(pid: number | 'self' | undefined): { own: number; reaped: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return { own: (f[11]! + f[12]!) / CLOCK_TICKS, reaped: (f[13]! + f[14]!) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (user, nice, system, irq, softirq, steal); NaN off Linux. */
export function machineBusy(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** `load:` line of a benchmark's header. */
export const loadLine = (): string =>
  `load:     ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (1, 5, 15 min averages before the run)`;

/** A bench's option that must be a positive whole number (`--name n`), or a clear error. */
export function positiveOption(args: Record<string, unknown>, name: string): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}
