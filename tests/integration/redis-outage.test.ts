/**
 * Redis goes away under load, and comes back (issue 14). The gateway runs as a real process
 * (`node auth/src/main.ts`, as Compose runs it) on a real redis-server with an append-only file;
 * a steady load of /verify with a token already verified, a revoked one and one never seen,
 * refreshes and registrations runs while redis-server is SIGKILLed, held down 10 s, and started
 * again. What must hold:
 *   - 0 answers 200 for the revoked token, or for the unseen one while Redis is down;
 *   - every 5xx is a 503 (temporarily_unavailable), never a 500, and the process stays up;
 *   - a revocation asked during the outage is refused (503), not dropped;
 *   - full service within 30 s of Redis' return: the unseen token, a new login, a revocation;
 *   - the logs say it once each way, with no stack trace.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

const HOLD_MS = 10_000;
let redis: RedisServer;
let github: GitHubStandin;
let gateway: GatewayProcess;
let url: string;

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  github = await startGitHubStandin();
  gateway = await startGatewayProcess({ github, env: { REDIS_URL: redis.url } });
  url = gateway.url;
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await github?.stop();
  await redis?.stop();
});

const signIn = (): Promise<FlowResult> => runFlow({ base: url, github, person: new Person(url, github) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  kind: string;
  status: number;
  at: number;
}

test('Redis killed under load, held down 10 s, restarted: fail closed, then full service', async () => {
  const seen = await signIn();
  const revoked = await signIn();
  const unseen = await signIn();
  const refreshable = await signIn();
  const bearer = (f: FlowResult) => `Bearer ${f.token!.body.access_token}`;
  expect((await askVerify(url, '/echo/mcp', bearer(seen))).status).toBe(200);
  const revocation = await tokenRequest(url, revoked.auth, { token: revoked.token!.body.access_token! }, '/revoke');
  expect(revocation.status).toBe(200);
  expect((await askVerify(url, '/echo/mcp', bearer(revoked))).status).toBe(401);

  const samples: Sample[] = [];
  let running = true;
  let redisKilled = false;
  let refreshToken = refreshable.token!.body.refresh_token!;
  const load = async () => {
    for (let i = 0; running; i++) {
      const kind = ['seen', 'revoked', 'unseen', 'refresh', 'register'][i % 5]!;
      // The unseen token is first presented once Redis is gone.
      if (kind === 'unseen' && !redisKilled) continue;
      let status: number;
      try {
        if (kind === 'refresh') {
          const r = await tokenRequest(url, refreshable.auth, {
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
          });
          if (r.status === 200) refreshToken = r.body.refresh_token!;
          status = r.status;
        } else if (kind === 'register') {
          const r = await fetch(`${url}/register`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' }),
          });
          status = r.status;
          await r.text();
        } else {
          const token = { seen, revoked, unseen }[kind as 'seen' | 'revoked' | 'unseen'];
          status = (await askVerify(url, '/echo/mcp', bearer(token))).status;
        }
      } catch {
        status = -1; // no answer at all: the gateway is gone
      }
      samples.push({ kind, status, at: Date.now() });
      await sleep(20);
    }
  };
  const loaders = [load(), load(), load()];
  await sleep(500);

  const down = Date.now();
  await redis.kill();
  redisKilled = true;
  await sleep(HOLD_MS / 2);
  // A revocation asked while Redis is down is refused, not dropped.
  const duringRevoke = await tokenRequest(url, seen.auth, { token: seen.token!.body.access_token! }, '/revoke');
  expect(duringRevoke.status).toBe(503);
  expect(duringRevoke.body.error).toBe('temporarily_unavailable');
  // A person trying to sign in is told so, on a page.
  const page = await fetch(
    `${url}/authorize?${new URLSearchParams({ response_type: 'code', client_id: seen.client.client_id, redirect_uri: 'http://127.0.0.1:9999/callback', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', resource: `${url}/echo/mcp`, scope: 'mcp' })}`,
  );
  expect(page.status).toBe(503);
  expect(await page.text()).toContain('storage cannot be reached');
  await sleep(HOLD_MS / 2);
  const back = Date.now();
  await redis.restart();

  // Full service: the unseen token, a new login, a revocation, within 30 s.
  let recovered = 0;
  for (const until = back + 30_000; Date.now() < until;) {
    const unseenOk = (await askVerify(url, '/echo/mcp', bearer(unseen))).status === 200;
    const registers =
      unseenOk &&
      (
        await fetch(`${url}/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' }),
        })
      ).status === 201;
    if (registers) {
      recovered = Date.now();
      break;
    }
    await sleep(200);
  }
  expect(recovered).toBeGreaterThan(0);
  const fresh = await signIn();
  expect(fresh.token?.status).toBe(200);
  expect((await askVerify(url, '/echo/mcp', bearer(fresh))).status).toBe(200);
  const after = await tokenRequest(url, fresh.auth, { token: fresh.token!.body.access_token! }, '/revoke');
  expect(after.status).toBe(200);
  expect((await askVerify(url, '/echo/mcp', bearer(fresh))).status).toBe(401);
  running = false;
  await Promise.all(loaders);

  const during = samples.filter((s) => s.at > down + 50 && s.at < back);
  expect(during.length).toBeGreaterThan(100);
  // Fail closed: never 200 for the revoked token, nor for the unseen one while Redis was down.
  expect(samples.filter((s) => s.kind === 'revoked' && s.status === 200)).toEqual([]);
  expect(during.filter((s) => s.kind === 'unseen' && s.status === 200)).toEqual([]);
  // The token verified before the outage kept working from the cache.
  expect(during.filter((s) => s.kind === 'seen').every((s) => s.status === 200)).toBe(true);
  // Every failure is a 503; the gateway answered every request.
  expect([...new Set(samples.map((s) => s.status))].filter((s) => s >= 500 || s < 0)).toEqual(
    during.some((s) => s.status === 503) ? [503] : [],
  );
  expect(during.some((s) => s.status === 503)).toBe(true);
  expect(gateway.child.exitCode).toBeNull();
  // Said once each way, without a stack trace.
  expect(gateway.output()).toContain('storage unreachable');
  expect(gateway.output()).toContain('storage reachable again');
  expect(gateway.output()).not.toMatch(/(\\n|\n)\s+at \S/);
  console.log(
    `redis outage: ${samples.length} requests, ${during.length} during ${HOLD_MS / 1000} s down; full service ${((recovered - back) / 1000).toFixed(1)} s after Redis returned`,
  );
}, 90_000);
