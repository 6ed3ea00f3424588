/**
 * Crash consistency (issue 14): the gateway (`node auth/src/main.ts`, Redis with an append-only
 * file) is SIGKILLed while it issues tokens, and again while it revokes them; after each restart
 * every grant is whole: either usable throughout (its refresh token refreshes and the access
 * token it gives is accepted) or gone throughout (refresh refused with invalid_grant, its access
 * tokens refused). No half-written grant is usable, no revocation that was answered 200 is lost,
 * nothing is answered 500.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

const GRANTS = 12;
let redis: RedisServer;
let github: GitHubStandin;
let gateway: GatewayProcess;
let port: number;

const start = () => startGatewayProcess({ github, ...(port ? { port } : {}), env: { REDIS_URL: redis.url } });

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  github = await startGitHubStandin();
  gateway = await start();
  port = gateway.port;
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await github?.stop();
  await redis?.stop();
});

interface Chain {
  flow: FlowResult;
  /** The newest refresh token answered 200, and the access token that came with it. */
  refresh: string;
  access: string;
  /** A request was in flight when the gateway died (its answer, if any, never arrived). */
  pending: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whole: the refresh token refreshes and its access token is accepted, or both are refused. */
async function whole(chain: Chain, url: string): Promise<'alive' | 'gone'> {
  const refreshed = await tokenRequest(url, chain.flow.auth, {
    grant_type: 'refresh_token',
    refresh_token: chain.refresh,
  });
  expect(refreshed.status).toBeLessThan(500);
  if (refreshed.status === 200) {
    expect((await askVerify(url, '/echo/mcp', `Bearer ${refreshed.body.access_token}`)).status).toBe(200);
    return 'alive';
  }
  expect(refreshed.body.error).toBe('invalid_grant');
  expect((await askVerify(url, '/echo/mcp', `Bearer ${chain.access}`)).status).toBe(401);
  return 'gone';
}

test('SIGKILL while issuing tokens, then while revoking them: every grant whole after each restart', async () => {
  const url = gateway.url;
  const chains: Chain[] = [];
  for (let i = 0; i < GRANTS; i++) {
    const flow = await runFlow({ base: url, github, person: new Person(url, github) });
    chains.push({
      flow,
      refresh: flow.token!.body.refresh_token!,
      access: flow.token!.body.access_token!,
      pending: false,
    });
  }

  // 1. Issuance: every grant refreshing in a loop when the process dies.
  let running = true;
  const refreshing = chains.map(async (chain) => {
    while (running) {
      chain.pending = true;
      const r = await tokenRequest(url, chain.flow.auth, {
        grant_type: 'refresh_token',
        refresh_token: chain.refresh,
      }).catch(() => undefined);
      if (!r) return; // the gateway died under this request
      chain.pending = false;
      expect(r.status).toBe(200);
      chain.refresh = r.body.refresh_token!;
      chain.access = r.body.access_token!;
    }
  });
  await sleep(400);
  await gateway.crash();
  running = false;
  await Promise.all(refreshing);
  gateway = await start();
  // Whole, each of them (whole() asserts it). A refresh cut between the rotation of its token and
  // the answer's storage ends its grant (the client signs in again): consistent, never half-usable.
  const afterIssuing = await Promise.all(chains.map((c) => whole(c, gateway.url)));
  for (const chain of chains) {
    const r = await tokenRequest(gateway.url, chain.flow.auth, {
      grant_type: 'refresh_token',
      refresh_token: chain.refresh,
    });
    if (r.status === 200) {
      chain.refresh = r.body.refresh_token!;
      chain.access = r.body.access_token!;
    }
  }

  // 2. Revocation: every grant's refresh token revoked (RFC 7009) at once when the process dies.
  const answered = new Map<Chain, number>();
  const revoking = chains.map(async (chain, i) => {
    await sleep(i * 6);
    const r = await tokenRequest(gateway.url, chain.flow.auth, { token: chain.refresh }, '/revoke').catch(
      () => undefined,
    );
    if (r) answered.set(chain, r.status);
  });
  await sleep(GRANTS * 3);
  await gateway.crash();
  await Promise.all(revoking);
  gateway = await start();
  const afterRevoking = await Promise.all(chains.map((c) => whole(c, gateway.url)));
  // A revocation answered 200 was not lost.
  chains.forEach((chain, i) => {
    if (answered.get(chain) === 200) expect(afterRevoking[i]).toBe('gone');
  });
  expect([...answered.values()].every((s) => s === 200)).toBe(true);
  console.log(
    `crash consistency: ${GRANTS} grants; after the crash while issuing ${afterIssuing.filter((x) => x === 'alive').length} alive, the rest gone; while revoking ${answered.size} revocations answered, ${afterRevoking.filter((s) => s === 'gone').length} grants gone, ${afterRevoking.filter((s) => s === 'alive').length} alive`,
  );
  expect(gateway.output()).not.toMatch(/"level":50/);
}, 120_000);
