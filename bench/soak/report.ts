/**
 * The soak's report: the first and last windows side by side, the slope of memory, the totals, and
 * the verdict. The criteria (also in bench/soak/README.md):
 *
 *   errors      none: every answer the traffic got was the expected one (traffic.ts), no operation
 *               threw or timed out, and the gateway logged nothing at level error or fatal
 *   memory      each long-lived process (the gateway, each MCP service; not the per-session stdio
 *               servers, which come and go), and their sum: the highest RSS sampled in the last window
 *               is at most MEMORY_GROWTH above the highest in the baseline window
 *   fds         the long-lived processes' open descriptors at the last sample under traffic are at
 *               most FD_SLACK above the most of any sample in the baseline window
 *   latency     for every operation with at least P99_MIN_COUNT successes in both windows, the p99
 *               of the last window is at most P99_RATIO times the p99 of the baseline window (or at
 *               most P99_FLOOR_MS above it)
 *   processes   QUIET_S seconds after the traffic, no stdio server is left but the proxy's
 *               2026-07-28 pool for the one user (MCP_PROXY_MODERN_CHILDREN, 2); SIGTERM ends the
 *               gateway with code 0 within 20 s, and none of its processes outlives it
 *
 * Windows, for a run of D seconds: warm-up W = min(120 s, D/5), window length L = min(300 s, (D−W)/2);
 * first [0, L], baseline [W, W+L], last [D−L, D]. For 30 minutes: 0–5, 2–7 and 25–30 min.
 */
import type { Group, TreeSample } from './procs.ts';
import { fmt, max, mean, quantile, slope } from './stats.ts';
import { OPS, type ErrorEntry, type Op, type Recorder } from './traffic.ts';

const MEMORY_GROWTH = 0.05;
const FD_SLACK = 10;
const P99_RATIO = 2;
const P99_MIN_COUNT = 50;
/** A p99 this much (ms) above the baseline's is not judged slower, however the ratio: timer and scheduling noise. */
const P99_FLOOR_MS = 20;
const MODERN_POOL = 2;

export interface Sample {
  /** Seconds since the traffic started (the end of the interval this sample covers). */
  t: number;
  gateway: Group;
  services: Group;
  sessions: Group;
  /** Each service process: MB and fds. */
  perService: TreeSample['perService'];
  /** CPU of the whole tree over the interval, % of one core. */
  cpuPercent: number;
  /** CPU of the soak's own process (the clients) over the interval, % of one core. */
  clientCpuPercent: number;
  load1: number;
  /** Redis used_memory, MB (the whole server, for reference). */
  redisMB: number;
  grants: number;
  /** Errors in the interval. */
  errors: number;
  /** Latency (ms) of the operations that ended in the interval. */
  ops: Partial<Record<Op, { n: number; p50: number; p99: number }>>;
}

interface Window {
  from: number;
  to: number;
}

interface WindowFigures {
  window: Window;
  rssGateway: number;
  rssLongLived: number;
  rssSessions: number;
  /** Mean RSS of each service process, MB. */
  rssPerService: Record<string, number>;
  fdsGateway: number;
  fdsLongLived: number;
  processes: number;
  cpuPercent: number;
  clientCpuPercent: number;
  load1: number;
  opsPerSecond: number;
  p99: Partial<Record<Op, number>>;
  count: Partial<Record<Op, number>>;
}

export interface Criterion {
  name: string;
  pass: boolean;
  detail: string;
}

export interface Input {
  minutes: number;
  duration: number;
  sampleSeconds: number;
  machine: { cores: number; model: string; loadBefore: number[]; node: string; commit: string };
  samples: Sample[];
  idleBefore: TreeSample;
  idleAfter: TreeSample;
  quietSeconds: number;
  rec: Recorder;
  gateway: {
    errorLines: string[];
    errorLineCount: number;
    stop: { code: number | null; signal: string | null; ms: number; killed: boolean };
    orphans: number[];
  };
}

const longLived = (s: { gateway: Group; services: Group }, key: 'rss' | 'fds') => s.gateway[key] + s.services[key];

export function buildReport(input: Input) {
  const { duration, samples, rec } = input;
  const warm = Math.min(120, duration / 5);
  const length = Math.min(300, (duration - warm) / 2);
  const windows = {
    first: { from: 0, to: length },
    baseline: { from: warm, to: warm + length },
    last: { from: duration - length, to: duration },
  };

  const figures = (w: Window): WindowFigures => {
    const inside = samples.filter((s) => s.t > w.from && s.t <= w.to + 0.5);
    const p99: WindowFigures['p99'] = {};
    const count: WindowFigures['count'] = {};
    let total = 0;
    for (const op of OPS) {
      const series = rec.latencies.get(op)!;
      const ms = series.ms.filter((_, i) => series.t[i]! > w.from && series.t[i]! <= w.to);
      total += ms.length;
      count[op] = ms.length;
      p99[op] = quantile(ms, 0.99);
    }
    return {
      window: w,
      rssGateway: mean(inside.map((s) => s.gateway.rss)),
      rssLongLived: mean(inside.map((s) => longLived(s, 'rss'))),
      rssSessions: mean(inside.map((s) => s.sessions.rss)),
      rssPerService: Object.fromEntries(
        [...new Set(inside.flatMap((s) => Object.keys(s.perService)))].map((name) => [
          name,
          mean(inside.flatMap((s) => (s.perService[name] ? [s.perService[name].rss] : []))),
        ]),
      ),
      fdsGateway: max(inside.map((s) => s.gateway.fds)),
      fdsLongLived: max(inside.map((s) => longLived(s, 'fds'))),
      processes: max(inside.map((s) => 1 + s.services.processes + s.sessions.processes)),
      cpuPercent: mean(inside.map((s) => s.cpuPercent)),
      clientCpuPercent: mean(inside.map((s) => s.clientCpuPercent)),
      load1: mean(inside.map((s) => s.load1)),
      opsPerSecond: total / (w.to - w.from),
      p99,
      count,
    };
  };
  const first = figures(windows.first);
  const baseline = figures(windows.baseline);
  const last = figures(windows.last);

  const afterWarm = samples.filter((s) => s.t >= warm);
  const perHour = (y: (s: Sample) => number, list = afterWarm) => slope(list.map((s) => ({ x: s.t / 3600, y: y(s) })));
  const slopes = {
    longLived: perHour((s) => longLived(s, 'rss')),
    gateway: perHour((s) => s.gateway.rss),
    services: perHour((s) => s.services.rss),
    tree: perHour((s) => longLived(s, 'rss') + s.sessions.rss),
  };

  const totals = Object.fromEntries(
    OPS.map((op) => {
      const ms = rec.latencies.get(op)!.ms;
      const errors = rec.errors.filter((e) => e.op === op).length;
      return [op, { count: ms.length, errors, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: max(ms) }];
    }),
  ) as Record<Op, { count: number; errors: number; p50: number; p99: number; max: number }>;
  const errorsByOp: Record<string, number> = {};
  for (const e of rec.errors) errorsByOp[e.op] = (errorsByOp[e.op] ?? 0) + 1;

  const criteria: Criterion[] = [];
  criteria.push({
    name: 'errors',
    pass: rec.errorCount === 0 && input.gateway.errorLineCount === 0,
    detail: `${rec.errorCount} errors in the traffic, ${input.gateway.errorLineCount} error lines in the gateway's log`,
  });
  // Each long-lived process on its own (a leak in one is not hidden by the others' noise), and
  // their sum: the highest RSS sampled in the last window against the highest in the baseline
  // window. Highest, because collections only lower RSS: a process that collected in one window
  // and not in the other differs by its garbage, not by what it keeps.
  const rssOf = (name: string) => (s: Sample) =>
    name === 'gateway' ? s.gateway.rss : name === 'all' ? longLived(s, 'rss') : (s.perService[name]?.rss ?? NaN);
  const inWindow = (w: Window) => samples.filter((s) => s.t > w.from && s.t <= w.to + 0.5);
  const names = ['gateway', ...Object.keys(samples.at(-1)?.perService ?? {}), 'all'];
  const memory = names.map((name) => {
    const before = max(inWindow(windows.baseline).map(rssOf(name)));
    const after = max(inWindow(windows.last).map(rssOf(name)));
    return { name: name === 'all' ? 'gateway + services' : name, before, after, growth: after / before - 1 };
  });
  const grown = memory.filter((m) => !(m.growth <= MEMORY_GROWTH));
  criteria.push({
    name: 'memory',
    pass: grown.length === 0,
    detail:
      `highest RSS, baseline → last window (limit +${MEMORY_GROWTH * 100} %): ` +
      memory.map((m) => `${m.name} ${fmt(m.before, 0)} → ${fmt(m.after, 0)} MB (${fmt(m.growth * 100)} %)`).join(', '),
  });
  // For reference: the growth over the last half by least squares (a collection early in that half
  // reads as growth; a steady leak reads as growth too).
  const lastHalf = samples.filter((s) => s.t >= duration / 2);
  const lastHalfGrowth = (perHour((s) => longLived(s, 'rss'), lastHalf) * (duration / 2)) / 3600;
  const lastSample = samples.at(-1);
  const fdsLast = lastSample ? longLived(lastSample, 'fds') : NaN;
  criteria.push({
    name: 'fds',
    pass: fdsLast <= baseline.fdsLongLived + FD_SLACK,
    detail: `gateway + services: ${fdsLast} fds at the last sample, baseline window's most ${baseline.fdsLongLived} (+${FD_SLACK} allowed)`,
  });
  const slower = OPS.filter(
    (op) =>
      (baseline.count[op] ?? 0) >= P99_MIN_COUNT &&
      (last.count[op] ?? 0) >= P99_MIN_COUNT &&
      last.p99[op]! > P99_RATIO * baseline.p99[op]! &&
      last.p99[op]! - baseline.p99[op]! > P99_FLOOR_MS,
  );
  const judged = OPS.filter(
    (op) => (baseline.count[op] ?? 0) >= P99_MIN_COUNT && (last.count[op] ?? 0) >= P99_MIN_COUNT,
  );
  criteria.push({
    name: 'latency',
    pass: slower.length === 0,
    detail: slower.length
      ? `p99 more than ${P99_RATIO}× the baseline: ${slower.map((op) => `${op} ${fmt(baseline.p99[op]!)} → ${fmt(last.p99[op]!)} ms`).join(', ')}`
      : `last p99 ≤ ${P99_RATIO}× baseline p99 (or ≤ +${P99_FLOOR_MS} ms) for ${judged.join(', ')}`,
  });
  const { stop, orphans } = input.gateway;
  const leftover = input.idleAfter.sessions.processes;
  criteria.push({
    name: 'processes',
    pass: leftover <= MODERN_POOL && orphans.length === 0 && stop.code === 0 && !stop.killed,
    detail:
      `${leftover} stdio servers ${input.quietSeconds} s after the traffic (at most ${MODERN_POOL}); ` +
      `SIGTERM: exit ${stop.code ?? stop.signal} in ${fmt(stop.ms / 1000)} s${stop.killed ? ' (SIGKILL needed)' : ''}; ` +
      `${orphans.length} processes outlived it`,
  });

  return {
    command: `npm run soak (${input.minutes} min)`,
    date: new Date().toISOString(),
    minutes: input.minutes,
    durationSeconds: duration,
    machine: input.machine,
    windows,
    first,
    baseline,
    last,
    slopesMBPerHour: slopes,
    /** MB, gateway + services, over the last half of the run (least squares). */
    lastHalfGrowthMB: lastHalfGrowth,
    memory,
    idle: {
      before: {
        gateway: input.idleBefore.gateway,
        services: input.idleBefore.services,
        sessions: input.idleBefore.sessions,
      },
      after: {
        gateway: input.idleAfter.gateway,
        services: input.idleAfter.services,
        sessions: input.idleAfter.sessions,
      },
    },
    totals: {
      operations: Object.values(totals).reduce((a, t) => a + t.count, 0),
      errors: rec.errorCount,
      errorsByOp,
      gatewayErrorLines: input.gateway.errorLineCount,
      perOp: totals,
      counts: rec.counts,
    },
    gatewayErrorLines: input.gateway.errorLines,
    firstErrors: rec.errors.slice(0, 20) as ErrorEntry[],
    verdict: { pass: criteria.every((c) => c.pass), criteria },
  };
}

export type Report = ReturnType<typeof buildReport>;

const minutes = (w: Window) => `${fmt(w.from / 60)}–${fmt(w.to / 60)} min`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function printReport(r: Report): void {
  const { first, baseline, last } = r;
  console.log(
    `\nsoak: ${fmt(r.durationSeconds / 60)} min of traffic, ${r.totals.operations} operations, ${r.totals.errors} errors`,
  );
  console.log(
    table([
      ['', `first ${minutes(first.window)}`, `baseline ${minutes(baseline.window)}`, `last ${minutes(last.window)}`],
      ['RSS gateway, MB (mean)', fmt(first.rssGateway), fmt(baseline.rssGateway), fmt(last.rssGateway)],
      ['RSS gateway + services, MB', fmt(first.rssLongLived), fmt(baseline.rssLongLived), fmt(last.rssLongLived)],
      ...Object.keys(last.rssPerService).map((name) => [
        `  of which ${name}`,
        fmt(first.rssPerService[name] ?? NaN),
        fmt(baseline.rssPerService[name] ?? NaN),
        fmt(last.rssPerService[name] ?? NaN),
      ]),
      ['RSS session servers, MB', fmt(first.rssSessions), fmt(baseline.rssSessions), fmt(last.rssSessions)],
      ['fds gateway (most)', fmt(first.fdsGateway, 0), fmt(baseline.fdsGateway, 0), fmt(last.fdsGateway, 0)],
      [
        'fds gateway + services (most)',
        fmt(first.fdsLongLived, 0),
        fmt(baseline.fdsLongLived, 0),
        fmt(last.fdsLongLived, 0),
      ],
      ['processes (most)', fmt(first.processes, 0), fmt(baseline.processes, 0), fmt(last.processes, 0)],
      ['CPU of the tree, % of a core', fmt(first.cpuPercent, 0), fmt(baseline.cpuPercent, 0), fmt(last.cpuPercent, 0)],
      [
        'CPU of the soak (clients), %',
        fmt(first.clientCpuPercent, 0),
        fmt(baseline.clientCpuPercent, 0),
        fmt(last.clientCpuPercent, 0),
      ],
      ['machine load (1 min)', fmt(first.load1), fmt(baseline.load1), fmt(last.load1)],
      ['operations/s', fmt(first.opsPerSecond), fmt(baseline.opsPerSecond), fmt(last.opsPerSecond)],
    ]),
  );
  console.log('');
  console.log(
    table([
      ['operation', 'count', 'errors', 'p50 ms', 'p99 ms', 'p99 first', 'p99 baseline', 'p99 last', 'last/baseline'],
      ...OPS.map((op) => {
        const t = r.totals.perOp[op];
        return [
          op,
          String(t.count),
          String(t.errors),
          fmt(t.p50),
          fmt(t.p99),
          fmt(first.p99[op]!),
          fmt(baseline.p99[op]!),
          fmt(last.p99[op]!),
          `${fmt(last.p99[op]! / baseline.p99[op]!, 2)}×`,
        ];
      }),
    ]),
  );
  const s = r.slopesMBPerHour;
  console.log(
    `\nRSS slope after the warm-up (least squares, MB/hour): gateway + services ${fmt(s.longLived)} ` +
      `(gateway ${fmt(s.gateway)}, services ${fmt(s.services)}); whole tree ${fmt(s.tree)}; ` +
      `gateway + services over the last half: ${fmt(r.lastHalfGrowthMB)} MB`,
  );
  const { before, after } = r.idle;
  console.log(
    `idle before / after: gateway ${fmt(before.gateway.rss)} / ${fmt(after.gateway.rss)} MB, ` +
      `${before.gateway.fds} / ${after.gateway.fds} fds; services ${fmt(before.services.rss)} / ${fmt(after.services.rss)} MB, ` +
      `${before.services.fds} / ${after.services.fds} fds; ${before.sessions.processes} / ${after.sessions.processes} stdio servers`,
  );
  console.log(`counted: ${JSON.stringify(r.totals.counts)}`);
  if (r.totals.errors) {
    console.log(`errors by operation: ${JSON.stringify(r.totals.errorsByOp)}`);
    for (const e of r.firstErrors.slice(0, 10)) console.log(`  ${fmt(e.t / 60)} min ${e.op}: ${e.message}`);
  }
  for (const line of r.gatewayErrorLines.slice(0, 5)) console.log(`  gateway: ${line}`);
  console.log('');
  for (const c of r.verdict.criteria) console.log(`${c.pass ? 'ok  ' : 'FAIL'} ${c.name.padEnd(10)} ${c.detail}`);
  console.log(`\nverdict: ${r.verdict.pass ? 'PASS' : 'FAIL'}`);
}
