/**
 * bench/verify: how fast is GET /verify, the ForwardAuth call every MCP message makes, next to a
 * bare node:http server measured in the same run (the ceiling)? See bench/README.md and
 * docs/performance.md.
 *
 *   node bench/verify/run.ts [--duration 10] [--warmup 2] [--connections 50] [--threads 1]
 *                            [--tokens 30000] [--rate <req/s>] [--profile <dir>]
 *
 * One run: a throwaway redis-server; the bare server and the real auth service (auth/src/main.ts,
 * Redis storage, GitHub login, a known SIGNING_KEY) each in its own process; tokens signed with
 * that key for grants written through the real storage adapter; then wrk, one scenario after
 * another, each after a warm-up. Only 127.0.0.1; every process started is stopped on the way out.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createAdapterClass } from '../../auth/src/oidc/adapter.ts';
import { RedisStore } from '../../auth/src/storage/redis.ts';
import { RevocationFeed } from '../../auth/src/storage/revocation-feed.ts';
import { ACCESS_TOKEN_LIFETIME, authEnv, KEY_PREFIX, PUBLIC_URL, RESOURCE, USER } from './auth-env.ts';
import { DEFAULT_CACHE_SIZE } from '../../auth/src/verify/token-cache.ts';
import { startRedis } from '../../tests/support/redis-server.ts';
import { generateSigningKey, mintTokens, randomId, type TokenSpec, type TokenTemplate } from './tokens.ts';
import { freePort } from '../../auth/src/http/free-port.ts';
import { cpuOf, loadLine, machineBusy, positiveOption } from '../proc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LUA = fileURLToPath(new URL('wrk.lua', import.meta.url));
const PUBLIC_HOST = new URL(PUBLIC_URL).host;
const GRANT_LIFETIME = 2_592_000;
/** Tokens per grant in the pool (a grant's refreshes each bring a new access token). */
const TOKENS_PER_GRANT = 100;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    tokens: { type: 'string', default: '30000' },
    rate: { type: 'string' },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node bench/verify/run.ts [--duration s] [--warmup s] [--connections n] [--threads n]');
  console.log('                         [--tokens n] [--rate req/s] [--profile dir]   (see bench/README.md)');
  process.exit(0);
}
const positive = (name: keyof typeof args): number => positiveOption(args, name);
const opts = {
  duration: positive('duration'),
  warmup: positive('warmup'),
  connections: positive('connections'),
  threads: positive('threads'),
  tokens: positive('tokens'),
  rate: args.rate === undefined ? undefined : positive('rate'),
};
if (opts.threads > opts.connections) throw new Error('--threads must not exceed --connections');

// ---- processes, and stopping every one of them ----

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping everything started`);
    void cleanup().finally(() => process.exit(code));
  });
}

interface Child {
  process: ChildProcess;
  /** stdout and stderr so far (the last 20 kB), shown when something goes wrong. */
  output(): string;
}

function start(command: string, argv: string[], env: NodeJS.ProcessEnv, ipc = false): Child {
  const stdio: StdioOptions = ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const child = spawn(command, argv, { env, cwd: ROOT, stdio });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err: Error) => (output += `\n${err.message}`));
  cleanups.push(() => stop(child));
  return { process: child, output: () => output };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  // The auth service exits on SIGTERM after closing; a CPU profile is written then.
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(child: Child, name: string, url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.process.exitCode !== null) throw new Error(`${name} exited:\n${child.output()}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not answer ${url}:\n${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ---- requests as Traefik sends them ----

/** The headers of wrk.lua, for the checks made with fetch. */
const forwardAuthHeaders = (token: string): Record<string, string> => ({
  'x-forwarded-method': 'POST',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': PUBLIC_HOST,
  'x-forwarded-uri': '/echo/mcp',
  'x-forwarded-for': '203.0.113.7',
  accept: 'application/json, text/event-stream',
  'content-type': 'application/json',
  'mcp-protocol-version': '2025-11-25',
  authorization: `Bearer ${token}`,
});

const verify = (base: string, token: string) => fetch(`${base}/verify`, { headers: forwardAuthHeaders(token) });

async function expectStatus(base: string, token: string, status: number, what: string): Promise<Response> {
  const res = await verify(base, token);
  await res.arrayBuffer();
  if (res.status !== status) throw new Error(`${what}: /verify answered ${res.status}, expected ${status}`);
  return res;
}

// ---- wrk ----

interface WrkResult {
  requests: number;
  duration_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

interface Load {
  /** BENCH_* variables of wrk.lua. */
  env: Record<string, string>;
  /** Mean think time per connection (ms); undefined: as fast as the server answers. */
  delayMs?: number;
}

async function wrk(url: string, load: Load, seconds: number): Promise<WrkResult> {
  const env = {
    PATH: process.env.PATH,
    BENCH_HOST: PUBLIC_HOST,
    BENCH_THREADS: String(opts.threads),
    ...load.env,
    ...(load.delayMs === undefined ? {} : { BENCH_DELAY_MS: String(load.delayMs) }),
  };
  const argv = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${seconds}s`, '--timeout', '5s'];
  const child = start('wrk', [...argv, '-s', LUA, `${url}/verify`], env);
  const code = await new Promise((resolve) => child.process.once('close', resolve));
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('BENCH_RESULT '));
  if (code !== 0 || !line) throw new Error(`wrk failed (${String(code)}):\n${child.output()}`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
}

// ---- the run ----

interface Row {
  name: string;
  result: WrkResult;
  rps: number;
  /** CPU time of the server's process per request, µs (Linux). */
  cpuPerRequest?: number;
  /** Redis MGETs (one per full verification: a cache miss) per request; undefined for the bare server. */
  mgetPerRequest?: number;
  /** CPU time of redis-server per request, µs. */
  redisPerRequest?: number;
  /** Share of the machine's CPU used by anything but the bench's own processes during the run, %. */
  othersPercent?: number;
  /** Compared with the bare server (saturated runs only). */
  ratio?: number;
}

const ms = (us: number): string => (us / 1000).toFixed(2);
const fixed = (n: number | undefined, digits: number): string => (n === undefined ? '' : n.toFixed(digits));

/**
 * CPU seconds of a process (user + system), from /proc (Linux; NaN elsewhere). With `reaped`,
 * also those of its exited children (for this process: every wrk run so far).
 */
function processCpu(pid: number | 'self' | undefined, reaped = false): number {
  const cpu = cpuOf(pid);
  return cpu ? cpu.own + (reaped ? cpu.reaped : 0) : NaN;
}

interface Snapshot {
  time: number;
  machine: number;
  self: number;
  server: number;
  redis: number;
  mgets: number;
}

const cores = availableParallelism();

const errorsOf = (r: WrkResult): number => Object.values(r.errors).reduce((a, b) => a + b, 0);

function printTable(rows: Row[]): void {
  const head = ['scenario', 'req/s', 'vs bare', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'CPU µs/req', 'MGET/req'];
  head.push('redis µs/req', 'others %');
  const body = rows.map((r) => [
    r.name,
    r.rps.toFixed(0),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    ms(r.result.p50_us),
    ms(r.result.p99_us),
    ms(r.result.max_us),
    String(errorsOf(r.result)),
    fixed(r.cpuPerRequest, 1),
    fixed(r.mgetPerRequest, 2),
    fixed(r.redisPerRequest, 1),
    fixed(r.othersPercent, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const b of body) console.log(line(b));
}

function describeMachine(): void {
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (wrkVersion.error) throw new Error('wrk is not installed: apt-get install -y wrk');
  const redisVersion = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const repeat = ['node bench/verify/run.ts', ...Object.entries(opts).flatMap(([k, v]) => (v ? [`--${k} ${v}`] : []))];
  console.log(`date:     ${new Date().toISOString()}`);
  console.log(`machine:  ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}`);
  console.log(loadLine());
  console.log(
    `node:     ${process.version}; ${wrkVersion.stdout.split('\n')[0]?.split(' Copyright')[0]}; ${redisVersion}`,
  );
  console.log(`repeat:   ${repeat.join(' ')}${opts.rate ? '' : '   (rate: half the new-token throughput)'}`);
}

async function main(): Promise<void> {
  describeMachine();
  const work = await mkdtemp(join(tmpdir(), 'bench-verify-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));

  // Storage: a real redis-server; grants written through the real adapter, with the service's prefix.
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const store = new RedisStore({ url: redis.url, keyPrefix: KEY_PREFIX });
  cleanups.push(() => store.close());
  const stats = new Redis(redis.url);
  cleanups.push(() => stats.quit());
  /** CPU seconds so far of the machine, this process (with its reaped wrk runs), a server and Redis. */
  const snapshot = async (server: Child): Promise<Snapshot> => {
    const info = (await stats.info('commandstats')) + (await stats.info('cpu'));
    const number = (re: RegExp) => Number(re.exec(info)?.[1] ?? NaN);
    return {
      time: performance.now() / 1000,
      machine: machineBusy(),
      self: processCpu('self', true),
      server: processCpu(server.process.pid),
      redis: number(/used_cpu_sys:([\d.]+)/) + number(/used_cpu_user:([\d.]+)/),
      mgets: number(/cmdstat_mget:calls=(\d+)/),
    };
  };

  // The two servers, each in its own process.
  const key = await generateSigningKey();
  const barePort = await freePort();
  const bare = start(process.execPath, ['bench/verify/bare-server.ts', String(barePort)], process.env, true);
  const batchedPort = await freePort();
  const batched = start(
    process.execPath,
    ['bench/verify/bare-server.ts', String(batchedPort), 'batched'],
    process.env,
    true,
  );
  const authPort = await freePort();
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
  const auth = start(process.execPath, [...profile, 'auth/src/main.ts'], {
    PATH: process.env.PATH,
    DOTENV_CONFIG_PATH: join(work, 'no.env'),
    ...authEnv({ port: authPort, redisUrl: redis.url, signingKeyPem: key.pem }),
  });
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const batchedUrl = `http://127.0.0.1:${batchedPort}`;
  const authUrl = `http://127.0.0.1:${authPort}`;
  await waitFor(bare, 'bare server', bareUrl);
  await waitFor(batched, 'bare server (batched)', batchedUrl);
  await waitFor(auth, 'auth service', `${authUrl}/health`);
  const signing = (await store.get<{ keys: { kid: string }[] }>('keys:signing'))?.keys[0]?.kid;
  if (signing !== key.kid) throw new Error(`the service signs with ${signing}, not the bench's key ${key.kid}`);

  // Grants and tokens exactly as the provider would have them.
  const clientId = randomId();
  const template: TokenTemplate = { iss: PUBLIC_URL, aud: RESOURCE, client_id: clientId, scope: 'mcp', ...USER };
  const grants = new (createAdapterClass(store, { clientLifetime: 0, feed: new RevocationFeed(store) }))('Grant');
  const saveGrant = (gid: string) => {
    const iat = Math.floor(Date.now() / 1000);
    const grant = { iat, exp: iat + GRANT_LIFETIME, kind: 'Grant', jti: gid, accountId: USER.sub, clientId };
    return grants.upsert(
      gid,
      { ...grant, openid: { scope: 'openid' }, resources: { [RESOURCE]: 'mcp' } },
      GRANT_LIFETIME,
    );
  };
  const warmGid = randomId();
  const specs: TokenSpec[] = [];
  for (let i = 0; i < opts.tokens; i++) {
    specs.push({ jti: randomId(), gid: specs[i - (i % TOKENS_PER_GRANT)]?.gid ?? randomId() });
  }
  const started = Date.now();
  const [warm, ...pool] = await mintTokens(
    key,
    template,
    [{ jti: randomId(), gid: warmGid }, ...specs],
    ACCESS_TOKEN_LIFETIME,
  );
  await Promise.all([warmGid, ...new Set(specs.map((s) => s.gid))].map(saveGrant));
  const tokensFile = join(work, 'tokens.txt');
  await writeFile(tokensFile, pool.join('\n') + '\n');
  console.log(`tokens:   ${pool.length} signed in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // Before measuring: the tokens really pass, a forgery does not, the bare server answers.
  const ok = await expectStatus(authUrl, warm!, 200, 'warm token');
  if (ok.headers.get('x-user-login') !== USER.preferred_username || ok.headers.get('x-user-provider') !== USER.idp)
    throw new Error("the warm token was accepted without its user's identity");
  await expectStatus(authUrl, pool.at(-1)!, 200, 'pool token');
  await expectStatus(authUrl, `${warm!.slice(0, -6)}AAAAAA`, 401, 'forged signature');
  if ((await fetch(bareUrl)).status !== 200) throw new Error('the bare server does not answer 200');

  // Where the rotation through the pool is: each run goes on from there, so no token comes back
  // before ~pool-size others have gone through the cache (FIFO, DEFAULT_CACHE_SIZE entries).
  let offset = 0;
  const rows: Row[] = [];
  const measure = async (name: string, child: Child, load: Load): Promise<Row> => {
    const url = child === bare ? bareUrl : child === batched ? batchedUrl : authUrl;
    const rotating = load.env.BENCH_TOKENS !== undefined;
    const run = async (seconds: number) => {
      const result = await wrk(url, { ...load, env: { ...load.env, BENCH_OFFSET: String(offset) } }, seconds);
      // Requests still in flight when wrk stops are not counted but did go through the cache.
      if (rotating) offset += result.requests + 2 * opts.connections;
      return result;
    };
    process.stdout.write(`running:  ${name} (${opts.warmup} s warm-up, ${opts.duration} s)\n`);
    await run(opts.warmup);
    const start = await snapshot(child);
    const result = await run(opts.duration);
    const end = await snapshot(child);
    const delta = (k: keyof Snapshot) => end[k] - start[k];
    const perRequest = (total: number) => (Number.isFinite(total) ? total / result.requests : undefined);
    const others = delta('machine') - delta('self') - delta('server') - delta('redis');
    const row: Row = {
      name,
      result,
      rps: result.requests / (result.duration_us / 1e6),
      cpuPerRequest: perRequest(delta('server') * 1e6),
      othersPercent: Number.isFinite(others) ? Math.max(0, (100 * others) / (delta('time') * cores)) : undefined,
    };
    if (child === auth) {
      row.mgetPerRequest = perRequest(delta('mgets'));
      row.redisPerRequest = perRequest(delta('redis') * 1e6);
    }
    rows.push(row);
    return row;
  };

  const warmLoad: Load = { env: { BENCH_TOKEN: warm! } };
  const newLoad: Load = { env: { BENCH_TOKENS: tokensFile } };
  // The ceiling is measured first and again after the saturated runs: their mean is the
  // reference, and their difference says how steady the machine was meanwhile.
  const ceiling = await measure('bare node:http', bare, warmLoad);
  const warmRow = await measure('verify, warm token', auth, warmLoad);
  const newRow = await measure('verify, new token', auth, newLoad);
  // Traefik's forwardAuth with forwardBody: a POST's body comes along, and its MCP headers are
  // held to it (verify/mcp-headers.ts).
  const bodyRow = await measure('verify, warm token, with its body', auth, {
    env: { ...warmLoad.env, BENCH_BODY: '1' },
  });
  const ceilingAgain = await measure('bare node:http, again', bare, warmLoad);
  // For reference only: the batched writes of /verify on a server that does nothing else.
  const batchedRow = await measure('bare node:http, batched', batched, warmLoad);
  const reference = (ceiling.rps + ceilingAgain.rps) / 2;
  const drift = Math.abs(ceiling.rps - ceilingAgain.rps) / reference;
  batchedRow.ratio = batchedRow.rps / reference;
  warmRow.ratio = warmRow.rps / reference;
  newRow.ratio = newRow.rps / reference;
  bodyRow.ratio = bodyRow.rps / reference;
  const rate = opts.rate ?? Math.max(100, Math.round(newRow.rps / 2 / 100) * 100);
  const delayMs = (opts.connections * 1000) / rate;
  const warmLatency = await measure(`verify, warm @ ${rate}/s`, auth, { ...warmLoad, delayMs });
  const newLatency = await measure(`verify, new @ ${rate}/s`, auth, { ...newLoad, delayMs });

  // Revocation stays immediate with the warm token cached: end its grant as the provider does.
  await grants.destroy(warmGid);
  const revokedAt = performance.now();
  let answers200 = 0;
  while ((await verify(authUrl, warm!).then((r) => r.status)) === 200) {
    answers200++;
    if (performance.now() - revokedAt > 5000) throw new Error('the revoked warm token is still accepted after 5 s');
  }
  const revocationMs = performance.now() - revokedAt;

  console.log(
    `\n${opts.connections} connections, ${opts.threads} wrk thread(s), ${opts.duration} s per scenario after ${opts.warmup} s warm-up; ` +
      `new token: rotation through ${pool.length} tokens (cache: ${DEFAULT_CACHE_SIZE} entries)\n`,
  );
  printTable(rows);
  console.log(
    `\nbare ceiling: ${reference.toFixed(0)} req/s, the mean of its two runs (${(100 * drift).toFixed(1)}% apart)`,
  );
  if (drift > 0.1)
    console.log('warning: the machine was not steady during the run (other load?): ratios are unreliable');
  if (pool.length <= 2 * DEFAULT_CACHE_SIZE)
    console.log(`\nwarning: --tokens ${pool.length} is too few to miss the cache on every request`);
  const p99 = Math.max(warmLatency.result.p99_us, newLatency.result.p99_us) / 1000;
  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  console.log(`\nrevocation: the warm token's grant destroyed → 401 after ${revocationMs.toFixed(1)} ms`);
  console.log(`            (${answers200} request(s) still answered 200 meanwhile)`);
  console.log(`targets:    warm ≥ 0.80x bare: ${warmRow.ratio.toFixed(2)}x ${verdict(warmRow.ratio >= 0.8)}`);
  console.log(`            new token ≥ 0.25x bare: ${newRow.ratio.toFixed(2)}x ${verdict(newRow.ratio >= 0.25)}`);
  console.log(
    `            p99 < 10 ms at ${rate}/s, ${opts.connections} connections: ${p99.toFixed(2)} ms ${verdict(p99 < 10)}`,
  );
  console.log(
    `reference:  the batched bare server ${batchedRow.ratio!.toFixed(2)}x the bare ceiling; against it, ` +
      `/verify warm ${(warmRow.rps / batchedRow.rps).toFixed(2)}x, new token ${(newRow.rps / batchedRow.rps).toFixed(2)}x`,
  );
  const failed = rows.filter((r) => errorsOf(r.result) > 0);
  if (failed.length) console.log(`\nwarning: errors in ${failed.map((r) => r.name).join(', ')}: see wrk's counts`);
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await cleanup();
  if (args.profile) console.log(`profile:  ${args.profile} (auth service, .cpuprofile)`);
}
