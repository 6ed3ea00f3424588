/**
 * Redis Sentinel (issue 14): the gateway (`node auth/src/main.ts`) finds its master through a real
 * `redis-sentinel` (REDIS_SENTINELS, REDIS_SENTINEL_NAME) watching a master and its replica. Under
 * a steady load the master is SIGKILLed; the sentinel promotes the replica and the gateway follows:
 * no 200 for a revoked token, nothing but 503 for a 5xx, the process alive, and full service
 * (tokens issued before the failover, new logins, revocations) within 30 s.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { MASTER_NAME, startSentinelSetup, type SentinelSetup } from '../support/redis-sentinel.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

let setup: SentinelSetup;
let github: GitHubStandin;
let gateway: GatewayProcess;

beforeAll(async () => {
  setup = await startSentinelSetup();
  github = await startGitHubStandin();
  gateway = await startGatewayProcess({
    github,
    env: { REDIS_SENTINELS: setup.sentinels, REDIS_SENTINEL_NAME: MASTER_NAME },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await github?.stop();
  await setup?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the master killed under load: the gateway follows the promotion', async () => {
  const url = gateway.url;
  const signIn = (): Promise<FlowResult> => runFlow({ base: url, github, person: new Person(url, github) });
  const bearer = (f: FlowResult) => `Bearer ${f.token!.body.access_token}`;
  const before = await signIn();
  const revoked = await signIn();
  expect((await tokenRequest(url, revoked.auth, { token: revoked.token!.body.access_token! }, '/revoke')).status).toBe(
    200,
  );
  // Let the replica catch up with what was just written (replication is asynchronous).
  await sleep(500);

  const statuses: { kind: string; status: number }[] = [];
  let running = true;
  const load = async () => {
    for (let i = 0; running; i++) {
      const kind = i % 2 ? 'before' : 'revoked';
      const token = kind === 'before' ? before : revoked;
      const status = await askVerify(url, '/echo/mcp', bearer(token)).then(
        (r) => r.status,
        () => -1,
      );
      statuses.push({ kind, status });
      await sleep(20);
    }
  };
  const loaders = [load(), load()];
  const oldMaster = await setup.masterPort();
  await setup.master.kill();
  // The sentinel notices (1 s), elects itself leader and promotes the replica.
  let promoted = 0;
  for (const until = Date.now() + 30_000; Date.now() < until;) {
    if ((await setup.masterPort().catch(() => oldMaster)) === setup.replica.port) {
      promoted = Date.now();
      break;
    }
    await sleep(100);
  }
  expect(promoted).toBeGreaterThan(0);

  // Full service on the new master: a new login, the token from before, a revocation.
  let fresh: FlowResult | undefined;
  for (const until = promoted + 30_000; Date.now() < until && !fresh;) {
    fresh = await signIn().catch(() => undefined);
    if (!fresh) await sleep(250);
  }
  expect(fresh?.token?.status).toBe(200);
  const again = await askVerify(url, '/echo/mcp', bearer(before));
  expect([again.status, again.body]).toEqual([200, undefined]);
  expect((await tokenRequest(url, fresh!.auth, { token: fresh!.token!.body.access_token! }, '/revoke')).status).toBe(
    200,
  );
  expect((await askVerify(url, '/echo/mcp', bearer(fresh!))).status).toBe(401);
  running = false;
  await Promise.all(loaders);

  expect(statuses.filter((s) => s.kind === 'revoked' && s.status === 200)).toEqual([]);
  expect([...new Set(statuses.map((s) => s.status))].filter((s) => s >= 500 || s < 0).every((s) => s === 503)).toBe(
    true,
  );
  expect(gateway.child.exitCode).toBeNull();
  expect(gateway.output()).not.toMatch(/(\\n|\n)\s+at \S/);
  console.log(
    `sentinel failover: promoted ${((promoted - Date.now()) / -1000).toFixed(1)} s ago; ${statuses.length} requests, ${statuses.filter((s) => s.status === 503).length} answered 503`,
  );
}, 90_000);
