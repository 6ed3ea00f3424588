/**
 * bench/upstream: what a remote MCP server with OAuth of its own costs at the edge (issue 11,
 * docs/upstreams.md). Two services of one gateway (`npm start`'s edge, auth/src/embedded.ts, Redis
 * storage) reach the same bare upstream server (upstream-server.ts):
 *   plain   MCP_PLAIN_URL, no MCP_PLAIN_AUTH: the request goes on with no upstream token (baseline)
 *   token   MCP_HELD_URL with MCP_HELD_AUTH=user: the edge adds the user's upstream token, held
 *           sealed in Redis, read through the in-memory cache (one Redis read per user per 30 s)
 * wrk sends the same tools/list POST with a gateway token to each, alternately (plain, held, plain,
 * held), after a warm-up; the result is requests/s, p50 and p99 of each, and held/plain.
 *
 *   node bench/upstream/run.ts [--duration 10] [--warmup 2] [--connections 20] [--threads 1]
 *
 * Only 127.0.0.1; every process started is stopped on the way out. The upstream counts requests
 * it refused (an upstream token that was not the one held): the run fails unless there are none.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { positiveOption } from '../proc.ts';
import { createAdapterClass } from '../../auth/src/oidc/adapter.ts';
import { RedisStore } from '../../auth/src/storage/redis.ts';
import { RevocationFeed } from '../../auth/src/storage/revocation-feed.ts';
import { loadUpstreamKey, UpstreamTokenVault } from '../../auth/src/upstream/token-vault.ts';
import { freePort } from '../../auth/src/http/free-port.ts';
import { startRedis } from '../../tests/support/redis-server.ts';
import { generateSigningKey, mintTokens, randomId } from '../verify/tokens.ts';
import { gatewayEnv, PREFIX, USER } from './gateway-env.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LUA = fileURLToPath(new URL('wrk.lua', import.meta.url));
const UPSTREAM_TOKEN = `upstream-${randomId()}`;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node bench/upstream/run.ts [--duration s] [--warmup s] [--connections n] [--threads n]');
  process.exit(0);
}
const positive = (name: keyof typeof args): number => positiveOption(args, name);
const opts = {
  duration: positive('duration'),
  warmup: positive('warmup'),
  connections: positive('connections'),
  threads: positive('threads'),
};

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch((err: unknown) => console.error(err));
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

function start(command: string, argv: string[], env: NodeJS.ProcessEnv): { process: ChildProcess; output(): string } {
  const child = spawn(command, argv, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  });
  return { process: child, output: () => output };
}

interface Result {
  requests: number;
  duration_us: number;
  p50_us: number;
  p99_us: number;
  errors: Record<string, number>;
}

async function wrk(url: string, token: string, seconds: number): Promise<Result> {
  const child = start(
    'wrk',
    ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${seconds}s`, '-s', LUA, url],
    { ...process.env, BENCH_TOKEN: token },
  );
  const code = await new Promise<number | null>((resolve) => child.process.once('exit', resolve));
  const line = child.output().match(/BENCH_RESULT (\{.*\})/)?.[1];
  if (code !== 0 || !line) throw new Error(`wrk failed (${String(code)}):\n${child.output()}`);
  return JSON.parse(line) as Result;
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is needed (Debian: apt-get install wrk)');
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const [port, upstreamPort] = await Promise.all([freePort(), freePort()]);
  const publicUrl = `http://127.0.0.1:${port}`;
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const upstream = start(process.execPath, ['bench/upstream/upstream-server.ts'], {
    ...process.env,
    PORT: String(upstreamPort),
    BENCH_UPSTREAM_TOKEN: UPSTREAM_TOKEN,
  });

  const key = await generateSigningKey();
  const sealing = randomId();
  const gateway = start(process.execPath, ['auth/src/embedded.ts'], {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    DOTENV_CONFIG_PATH: '/nonexistent',
    ...gatewayEnv({ port, redisUrl: redis.url, signingKeyPem: key.pem, sealing, upstreamUrl }),
  });

  // The user's grant and gateway tokens (one per service), and their upstream token, sealed in Redis.
  const store = new RedisStore({ url: redis.url, keyPrefix: PREFIX });
  cleanups.push(() => store.close());
  const clientId = randomId();
  const gid = randomId();
  const resources = { [`${publicUrl}/plain/mcp`]: 'mcp', [`${publicUrl}/held/mcp`]: 'mcp' };
  const Grant = createAdapterClass(store, { clientLifetime: 0, feed: new RevocationFeed(store) });
  const iat = Math.floor(Date.now() / 1000);
  await new Grant('Grant').upsert(
    gid,
    { iat, exp: iat + 86_400, kind: 'Grant', jti: gid, accountId: USER.sub, clientId, resources },
    86_400,
  );
  const tokenFor = async (service: string) =>
    (
      await mintTokens(
        key,
        { iss: publicUrl, aud: `${publicUrl}/${service}/mcp`, client_id: clientId, scope: 'mcp', ...USER },
        [{ jti: randomId(), gid }],
        3600,
      )
    )[0]!;
  const tokens = { plain: await tokenFor('plain'), held: await tokenFor('held') };
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store, sealing));
  await vault.save('held', USER.sub, {
    access_token: UPSTREAM_TOKEN,
    refresh_token: randomId(),
    obtained_at: iat,
    expires_at: iat + 3600,
  });

  // Both services answer before anything is measured.
  const deadline = Date.now() + 30_000;
  for (const service of ['plain', 'held'] as const) {
    for (;;) {
      if (gateway.process.exitCode !== null) throw new Error(`the gateway exited:\n${gateway.output()}`);
      if (upstream.process.exitCode !== null) throw new Error(`the upstream exited:\n${upstream.output()}`);
      const res = await fetch(`${publicUrl}/${service}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens[service]}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
      }).catch(() => undefined);
      if (res?.status === 200) break;
      if (Date.now() > deadline) {
        throw new Error(`${service} did not answer 200 (${res?.status}):\n${gateway.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  console.log(
    `upstream bench: ${opts.connections} connections, ${opts.threads} thread(s), ${opts.duration} s per run, plain and held twice each`,
  );
  const results: Record<'plain' | 'held', Result[]> = { plain: [], held: [] };
  for (const round of [1, 2]) {
    for (const service of ['plain', 'held'] as const) {
      const url = `${publicUrl}/${service}/mcp`;
      await wrk(url, tokens[service], opts.warmup);
      const r = await wrk(url, tokens[service], opts.duration);
      const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
      if (failed) throw new Error(`${service}: ${failed} errors ${JSON.stringify(r.errors)}`);
      results[service].push(r);
      const rps = r.requests / (r.duration_us / 1e6);
      console.log(
        `  round ${round} ${service.padEnd(5)}  ${rps.toFixed(0).padStart(6)} req/s  p50 ${(r.p50_us / 1000).toFixed(2)} ms  p99 ${(r.p99_us / 1000).toFixed(2)} ms`,
      );
    }
  }
  const refused = Number(await (await fetch(`${upstreamUrl}/refused`)).text());
  if (refused !== 0) throw new Error(`the upstream refused ${refused} requests`);
  const summary = (list: Result[]) => ({
    rps: list.reduce((a, r) => a + r.requests / (r.duration_us / 1e6), 0) / list.length,
    p50: list.reduce((a, r) => a + r.p50_us, 0) / list.length / 1000,
    p99: list.reduce((a, r) => a + r.p99_us, 0) / list.length / 1000,
  });
  const plain = summary(results.plain);
  const held = summary(results.held);
  console.log('');
  console.log(
    `plain (no upstream token)       ${plain.rps.toFixed(0)} req/s  p50 ${plain.p50.toFixed(2)} ms  p99 ${plain.p99.toFixed(2)} ms`,
  );
  console.log(
    `held (the user's upstream token) ${held.rps.toFixed(0)} req/s  p50 ${held.p50.toFixed(2)} ms  p99 ${held.p99.toFixed(2)} ms`,
  );
  console.log(`held / plain: ${(held.rps / plain.rps).toFixed(2)}x requests/s; upstream refused 0`);
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
