/**
 * bench/token: what the refresh token reuse grace window (REFRESH_TOKEN_REUSE_GRACE) costs the
 * token endpoint. Two runs of the real auth service (auth/src/main.ts, Redis storage, GitHub login
 * through the stand-in), one with the window off (REFRESH_TOKEN_REUSE_GRACE=0, the baseline) and
 * one with its default; each refreshes `--chains` grants in closed loops (every answer's refresh
 * token is the next request's) for `--duration` seconds. Reported: refreshes per second, p50 and
 * p99, and the ratio to the baseline measured in the same run. docs/performance.md.
 *
 *   node bench/token/run.ts [--duration 10] [--chains 16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { freePort } from '../../auth/src/http/free-port.ts';
import { startGitHubStandin } from '../../tests/support/github-standin.ts';
import { runFlow, type FlowResult } from '../../tests/support/flow.ts';
import { tokenRequest } from '../../tests/support/oauth.ts';
import { Person } from '../../tests/support/person.ts';
import { startRedis } from '../../tests/support/redis-server.ts';
import { positiveOption } from '../proc.ts';

const { values: args } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, chains: { type: 'string', default: '16' } },
});
const DURATION_S = positiveOption(args, 'duration');
const CHAINS = positiveOption(args, 'chains');

const redis = await startRedis();
const github = await startGitHubStandin();

async function gateway(grace: number): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['auth/src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      DOTENV_CONFIG_PATH: '/nonexistent',
      PUBLIC_URL: url,
      PORT: String(port),
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `bench${grace}:`,
      GITHUB_CLIENT_ID: github.clientId,
      GITHUB_CLIENT_SECRET: github.clientSecret,
      GITHUB_BASE_URL: github.baseUrl,
      GITHUB_API_URL: github.apiUrl,
      ALLOWED_GITHUB_USERS: 'octocat',
      MCP_ECHO_ENABLED: 'true',
      REFRESH_TOKEN_REUSE_GRACE: String(grace),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (const until = Date.now() + 20_000; ;) {
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > until) throw new Error('the auth service did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child };
}

async function measure(grace: number): Promise<{ rate: number; p50: number; p99: number }> {
  const { url, child } = await gateway(grace);
  try {
    const flows: FlowResult[] = [];
    for (let i = 0; i < CHAINS; i++) flows.push(await runFlow({ base: url, github, person: new Person(url, github) }));
    const latencies: number[] = [];
    // Each chain's current refresh token, carried from the warm-up into the measurement.
    const current = new Map(flows.map((f) => [f, f.token!.body.refresh_token!]));
    const chain = async (flow: FlowResult, until: number) => {
      let token = current.get(flow)!;
      while (Date.now() < until) {
        const started = performance.now();
        const r = await tokenRequest(url, flow.auth, { grant_type: 'refresh_token', refresh_token: token });
        if (r.status !== 200) throw new Error(`refresh answered ${r.status}: ${JSON.stringify(r.body)}`);
        latencies.push(performance.now() - started);
        token = r.body.refresh_token!;
        current.set(flow, token);
      }
    };
    await Promise.all(flows.map((f) => chain(f, Date.now() + 2_000))); // warm-up
    latencies.length = 0;
    const until = Date.now() + DURATION_S * 1000;
    await Promise.all(flows.map((f) => chain(f, until)));
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    return { rate: latencies.length / DURATION_S, p50: at(0.5), p99: at(0.99) };
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

try {
  const baseline = await measure(0);
  const window = await measure(30);
  const line = (name: string, m: { rate: number; p50: number; p99: number }) =>
    `${name.padEnd(34)} ${m.rate.toFixed(0).padStart(6)} refreshes/s   p50 ${m.p50.toFixed(1)} ms   p99 ${m.p99.toFixed(1)} ms`;
  console.log(`bench/token: ${CHAINS} refresh chains, ${DURATION_S} s each, one redis-server`);
  console.log(line('REFRESH_TOKEN_REUSE_GRACE=0', baseline));
  console.log(line('REFRESH_TOKEN_REUSE_GRACE=30', window));
  console.log(`ratio (window / strict): ${(window.rate / baseline.rate).toFixed(2)}×`);
} finally {
  await github.stop();
  await redis.stop();
}
