/**
 * `npm run soak`: the whole gateway as `npm start` runs it, under mixed traffic for a long time
 * (30 minutes by default), watched for what only time shows: memory or file descriptors that grow,
 * processes left behind, latency that creeps up, and any error at all. Not part of CI.
 *
 *   npm run soak                                  30 minutes
 *   SOAK_MINUTES=3 npm run soak                   or: npm run soak -- --minutes 3
 *   npm run soak -- --out /tmp/soak.json          where the JSON report goes
 *
 * What runs: a redis-server on a free port (or REDIS_URL from the environment, under a key prefix of
 * its own), and `node auth/src/embedded.ts` (what `npm start` runs) as its own process, from a .env
 * in a temporary directory: PUBLIC_URL on a free loopback port, no identity provider (so the local
 * user, whose password the gateway prints), Redis, and the services of the catalogue that need no
 * network: echo-stateful, echo-stateless, time, and everything (a stdio server, through the proxy).
 * The traffic is in traffic.ts; the criteria of the verdict in report.ts. bench/soak/README.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../auth/src/http/free-port.ts';
import { cpuOf } from '../proc.ts';
import { startRedis } from '../../tests/support/redis-server.ts';
import { alive, sampleTree, type TreeSample } from './procs.ts';
import { buildReport, printReport, type Sample } from './report.ts';
import { OPS, SERVICES, Traffic } from './traffic.ts';
import { quantile } from './stats.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: process.env.SOAK_MINUTES || '30' },
    out: { type: 'string' },
    sample: { type: 'string', default: '10' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('npm run soak -- [--minutes 30 (or SOAK_MINUTES)] [--out report.json] [--sample 10 (seconds)]');
  process.exit(0);
}
const MINUTES = Number(args.minutes);
const SAMPLE_S = Number(args.sample);
if (!(MINUTES > 0) || !(SAMPLE_S > 0)) throw new Error('--minutes and --sample must be positive numbers');
if (!existsSync('/proc/self/status')) throw new Error('the soak reads /proc: Linux only');
/** After the traffic, how long the gateway is left alone before the idle sample. */
const QUIET_S = 15;

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const stamp = new Date().toISOString().replace(/[:.]/g, '-');

interface Gateway {
  pid: number;
  url: string;
  password: string;
  /** Log lines at level error or fatal (pino 50, 60), the first 50 kept. */
  errorLines: string[];
  errorLineCount: number;
  exited(): boolean;
  /** SIGTERM; resolves with how it ended and how long it took, SIGKILL after 20 s. */
  stop(): Promise<{ code: number | null; signal: string | null; ms: number; killed: boolean }>;
}

async function startGateway(redisUrl: string, prefix: string): Promise<Gateway> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'soak-env-'));
  const env = [
    `PUBLIC_URL=${url}`,
    'HOST=127.0.0.1',
    `PORT=${port}`,
    `REDIS_URL=${redisUrl}`,
    `REDIS_KEY_PREFIX=${prefix}`,
    'LOG_LEVEL=warn',
    'LOG_FORMAT=json',
    ...SERVICES.map((s) => `MCP_${s.toUpperCase().replaceAll('-', '_')}_ENABLED=true`),
  ];
  writeFileSync(join(dir, '.env'), env.join('\n') + '\n');
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  // What `npm start` runs (`exec sh scripts/with-node.sh node auth/src/embedded.ts`), with this
  // Node (the soak itself runs under scripts/with-node.sh) and its .env named by DOTENV_CONFIG_PATH.
  const child = spawn(process.execPath, ['auth/src/embedded.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DOTENV_CONFIG_PATH: join(dir, '.env') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const errorLines: string[] = [];
  let errorLineCount = 0;
  let pending = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString();
    if (out.length < 100_000) out += text;
    const lines = (pending + text).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      try {
        if ((JSON.parse(line) as { level?: number }).level! >= 50) {
          errorLineCount++;
          if (errorLines.length < 50) errorLines.push(line.slice(0, 1000));
        }
      } catch {
        // not a log line
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  let stopped: ReturnType<Gateway['stop']> | undefined;
  const stop: Gateway['stop'] = () =>
    (stopped ??= (async () => {
      const started = performance.now();
      if (exited()) return { ...(await exit), ms: 0, killed: false };
      child.kill('SIGTERM');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, 20_000);
      const how = await exit;
      clearTimeout(timer);
      return { ...how, ms: performance.now() - started, killed };
    })());
  cleanups.push(stop);
  const deadline = Date.now() + 60_000;
  let password: string | undefined;
  while (!(password = /Sign in as "local" with the password: (\S+)/.exec(out)?.[1])) {
    if (exited() || Date.now() > deadline) throw new Error(`the gateway did not start:\n${out}`);
    await sleep(100);
  }
  return {
    pid: child.pid!,
    url,
    password,
    errorLines,
    get errorLineCount() {
      return errorLineCount;
    },
    exited,
    stop,
  };
}

async function main(): Promise<number> {
  const load = loadavg();
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    redisUrl = server.url;
  }
  const prefix = `soak-${stamp}:`;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanups.push(async () => redis.disconnect());
  const redisMemory = async (): Promise<number> =>
    Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN) / 1024 / 1024;

  const gateway = await startGateway(redisUrl, prefix);
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  console.log(
    `soak: ${MINUTES} min of mixed traffic against node auth/src/embedded.ts (pid ${gateway.pid}) on ${gateway.url}, ` +
      `redis ${process.env.REDIS_URL ? 'from REDIS_URL' : 'started here'}, services ${SERVICES.join(', ')}`,
  );
  console.log(
    `         ${cpus().length} cores, load ${load.map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}, commit ${commit}; a sample every ${SAMPLE_S} s`,
  );
  const idleBefore = sampleTree(gateway.pid);

  const traffic = new Traffic(gateway.url, gateway.password);
  const samples: Sample[] = [];
  const selfCpu = () => cpuOf('self')?.own ?? NaN;
  let last = { t: 0, cpu: idleBefore.cpu, self: selfCpu(), errors: 0 };
  const takeSample = async (): Promise<void> => {
    const t = traffic.rec.now();
    const tree: TreeSample = sampleTree(gateway.pid);
    const ops: Sample['ops'] = {};
    for (const op of OPS) {
      const series = traffic.rec.latencies.get(op)!;
      const window: number[] = [];
      for (let i = series.t.length - 1; i >= 0 && series.t[i]! > last.t; i--) window.push(series.ms[i]!);
      if (window.length) ops[op] = { n: window.length, p50: quantile(window, 0.5), p99: quantile(window, 0.99) };
    }
    const sample: Sample = {
      t,
      gateway: tree.gateway,
      services: tree.services,
      sessions: tree.sessions,
      perService: tree.perService,
      cpuPercent: ((tree.cpu - last.cpu) / (t - last.t)) * 100,
      clientCpuPercent: ((selfCpu() - last.self) / (t - last.t)) * 100,
      load1: loadavg()[0]!,
      redisMB: await redisMemory().catch(() => NaN),
      grants: traffic.pool.size,
      errors: traffic.rec.errorCount - last.errors,
      ops,
    };
    samples.push(sample);
    last = { t, cpu: tree.cpu, self: selfCpu(), errors: traffic.rec.errorCount };
    const stable = sample.gateway.rss + sample.services.rss;
    const count = Object.values(ops).reduce((a, o) => a + o.n, 0);
    console.log(
      `  ${(t / 60).toFixed(1).padStart(5)} min  rss ${stable.toFixed(0)} MB (+${sample.sessions.rss.toFixed(0)} in ${sample.sessions.processes} session processes)` +
        `  fds ${sample.gateway.fds}+${sample.services.fds}  cpu ${sample.cpuPercent.toFixed(0)}% (soak ${sample.clientCpuPercent.toFixed(0)}%)  ${(count / (t - (samples.at(-2)?.t ?? 0))).toFixed(0)} ops/s` +
        `  login p99 ${ops.login?.p99.toFixed(0) ?? '–'} ms  call p99 ${ops.mcp_call?.p99.toFixed(0) ?? '–'} ms  errors ${sample.errors}` +
        `  load ${sample.load1.toFixed(1)}`,
    );
  };

  traffic.start();
  const end = MINUTES * 60;
  while (traffic.rec.now() < end) {
    if (gateway.exited()) {
      traffic.rec.error('gateway', new Error('the gateway process exited during the soak'));
      break;
    }
    const next = Math.min(end, (Math.floor(traffic.rec.now() / SAMPLE_S) + 1) * SAMPLE_S);
    await sleep(Math.max(0, (next - traffic.rec.now()) * 1000));
    await takeSample();
  }
  const duration = traffic.rec.now();
  console.log('soak: traffic stops; each lane finishes its operation');
  await traffic.stop();
  await sleep(QUIET_S * 1000);
  const idleAfter = sampleTree(gateway.pid);
  const treePids = [...new Set([...idleBefore.pids, ...idleAfter.pids])];
  const stopped = await gateway.stop();
  await sleep(2000);
  const orphans = alive(treePids);
  for (const pid of orphans) process.kill(pid, 'SIGKILL'); // descendants of this soak's gateway only

  const report = buildReport({
    minutes: MINUTES,
    duration,
    sampleSeconds: SAMPLE_S,
    machine: { cores: cpus().length, model: cpus()[0]?.model ?? '', loadBefore: load, node: process.version, commit },
    samples,
    idleBefore,
    idleAfter,
    quietSeconds: QUIET_S,
    rec: traffic.rec,
    gateway: {
      errorLines: gateway.errorLines,
      errorLineCount: gateway.errorLineCount,
      stop: stopped,
      orphans,
    },
  });
  printReport(report);
  const out = args.out ?? join(ROOT, 'bench/soak/results', `${stamp}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify({ ...report, samples, errors: traffic.rec.errors }, null, 2) + '\n');
  console.log(`report: ${out}`);
  return report.verdict.pass ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(err);
  code = 2;
} finally {
  await cleanup();
}
process.exit(code);
