/**
 * The refresh token reuse grace window (REFRESH_TOKEN_REUSE_GRACE; issue 14), across two gateway
 * processes (`node auth/src/main.ts`, as Compose runs it) sharing one real redis-server:
 *   - two concurrent refreshes with the same token, one to each process: both succeed, with the
 *     same pair, and the grant lives on;
 *   - a replay after the window revokes the grant (RFC 9700 §4.14.2);
 *   - a replay by another client, or once the successor was used, is reuse: the grant is revoked.
 */
import { freePort } from '../../auth/src/http/free-port.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { registerOk, tokenRequest, type TokenResponse } from '../support/oauth.ts';
import { Person } from '../support/person.ts';

const GRACE = 3;
let redis: RedisServer;
let github: GitHubStandin;
let a: GatewayProcess;
let b: GatewayProcess;

const gateway = (publicUrl: string, port: number): Promise<GatewayProcess> =>
  startGatewayProcess({
    github,
    port,
    publicUrl,
    env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'grace:', REFRESH_TOKEN_REUSE_GRACE: String(GRACE) },
  });

beforeAll(async () => {
  redis = await startRedis();
  github = await startGitHubStandin();
  const [portA, portB] = [await freePort(), await freePort()];
  // Two replicas of one gateway: one issuer, one storage.
  const publicUrl = `http://127.0.0.1:${portA}`;
  a = await gateway(publicUrl, portA);
  b = await gateway(publicUrl, portB);
}, 150_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
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
  expect(a.output() + b.output()).toContain('refresh token reused within the grace window');
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
