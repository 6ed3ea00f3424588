/**
 * The refresh token reuse grace window (REFRESH_TOKEN_REUSE_GRACE; issue 14), across two gateway
 * processes (`node auth/src/main.ts`, as Compose runs it) sharing one real redis-server:
 *   - two concurrent refreshes with the same token, one to each process: both succeed, with the
 *     same pair, and the grant lives on;
 *   - a replay after the window revokes the grant (RFC 9700 §4.14.2);
 *   - a replay by another client, or once the successor was used, is reuse: the grant is revoked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../auth/src/http/free-port.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { registerOk, tokenRequest, type TokenResponse } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

const GRACE = 3;
let redis: RedisServer;
let github: GitHubStandin;
let a: { url: string; child: ChildProcess; out: () => string };
let b: { url: string; child: ChildProcess; out: () => string };

async function gateway(
  publicUrl: string,
  port: number,
): Promise<{ url: string; child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, ['auth/src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      DOTENV_CONFIG_PATH: '/nonexistent',
      PUBLIC_URL: publicUrl,
      PORT: String(port),
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'grace:',
      GITHUB_CLIENT_ID: github.clientId,
      GITHUB_CLIENT_SECRET: github.clientSecret,
      GITHUB_BASE_URL: github.baseUrl,
      GITHUB_API_URL: github.apiUrl,
      ALLOWED_GITHUB_USERS: 'octocat',
      MCP_ECHO_ENABLED: 'true',
      REFRESH_TOKEN_REUSE_GRACE: String(GRACE),
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!out.includes('auth service listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, child, out: () => out };
}

beforeAll(async () => {
  redis = await startRedis();
  github = await startGitHubStandin();
  const [portA, portB] = [await freePort(), await freePort()];
  // Two replicas of one gateway: one issuer, one storage.
  const publicUrl = `http://127.0.0.1:${portA}`;
  a = await gateway(publicUrl, portA);
  b = await gateway(publicUrl, portB);
}, 60_000);

afterAll(async () => {
  for (const g of [a, b]) {
    if (g && g.child.exitCode === null) {
      const exited = once(g.child, 'exit');
      g.child.kill('SIGTERM');
      await exited;
    }
  }
  await github?.stop();
  await redis?.stop();
});

const refresh = (base: string, flow: FlowResult, token: string, extra: Record<string, string> = {}) =>
  tokenRequest(base, flow.auth, { grant_type: 'refresh_token', refresh_token: token, ...extra });
const signIn = () => runFlow({ base: a.url, github, person: new Person(a.url, github) });
const pair = (t: TokenResponse) => [t.body.access_token, t.body.refresh_token];

test('two refreshes at once, one to each process: the same answer, and the grant lives on', async () => {
  const flow = await signIn();
  const rt = flow.token!.body.refresh_token!;
  const [one, two] = await Promise.all([refresh(a.url, flow, rt), refresh(b.url, flow, rt)]);
  expect([one.status, two.status]).toEqual([200, 200]);
  expect(pair(two)).toEqual(pair(one));
  // The successor works: nothing was revoked.
  const next = await refresh(b.url, flow, one.body.refresh_token!);
  expect(next.status).toBe(200);
  expect(a.out() + b.out()).toContain('refresh token reused within the grace window');
});

test('a retry after a lost answer, within the window: the same pair again', async () => {
  const flow = await signIn();
  const rt = flow.token!.body.refresh_token!;
  const first = await refresh(a.url, flow, rt);
  const retry = await refresh(b.url, flow, rt);
  expect(retry.status).toBe(200);
  expect(pair(retry)).toEqual(pair(first));
  expect(retry.body.expires_in).toBeLessThanOrEqual(first.body.expires_in!);
});

test('after the window, reuse revokes the grant', async () => {
  const flow = await signIn();
  const rt = flow.token!.body.refresh_token!;
  const first = await refresh(a.url, flow, rt);
  expect(first.status).toBe(200);
  await new Promise((r) => setTimeout(r, GRACE * 1000 + 500));
  const late = await refresh(b.url, flow, rt);
  expect(late.status).toBe(400);
  expect(late.body.error).toBe('invalid_grant');
  // The whole grant: the successor too.
  expect((await refresh(a.url, flow, first.body.refresh_token!)).body.error).toBe('invalid_grant');
});

test('within the window, another client or another scope gets no replay of the answer', async () => {
  const flow = await signIn();
  const rt = flow.token!.body.refresh_token!;
  const first = await refresh(a.url, flow, rt);
  const stranger = await registerOk(a.url, {
    client_name: 'Stranger',
    redirect_uris: ['http://127.0.0.1:9999/callback'],
    token_endpoint_auth_method: 'none',
  });
  const stolen = await tokenRequest(
    b.url,
    { method: 'none', clientId: stranger.client_id },
    {
      grant_type: 'refresh_token',
      refresh_token: rt,
    },
  );
  expect(stolen.status).toBe(400);
  expect(stolen.body.access_token).toBeUndefined();
  // The token was the first client's: whatever the provider answers the stranger, no replay of its answer.
  expect(JSON.stringify(stolen.body)).not.toContain(first.body.access_token!);

  const flow2 = await signIn();
  const rt2 = flow2.token!.body.refresh_token!;
  await refresh(a.url, flow2, rt2);
  const narrower = await refresh(b.url, flow2, rt2, { scope: 'offline_access' });
  expect(narrower.status).toBe(400);
  expect(narrower.body.access_token).toBeUndefined();
});

test('once the successor was used, the predecessor is no longer forgiven: reuse revokes the grant', async () => {
  const flow = await signIn();
  const rt = flow.token!.body.refresh_token!;
  const first = await refresh(a.url, flow, rt);
  const second = await refresh(a.url, flow, first.body.refresh_token!);
  expect(second.status).toBe(200);
  const reuse = await refresh(b.url, flow, rt);
  expect(reuse.body.error).toBe('invalid_grant');
  expect((await refresh(a.url, flow, second.body.refresh_token!)).body.error).toBe('invalid_grant');
});
