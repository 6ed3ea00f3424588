/**
 * Redis Cluster (issue 14): gateways (`node auth/src/main.ts`, as Compose runs it) on a real
 * cluster of three masters, each with a replica (tests/support/redis-cluster.ts), given two of its
 * nodes in REDIS_CLUSTER_NODES. What must hold:
 *   - the whole flow across two replicas: registration, login, token, /verify, refresh, and a
 *     revocation on one replica seen by the other's /verify through the revocation feed; a replica
 *     started later copies the revoked tokens from every master; the admin CLI lists the client;
 *   - the keys spread over every master, the `oidc:` ones with their hash tags (docs/storage.md);
 *   - a master SIGKILLed under load: its replica takes over and the gateways follow, with no 200
 *     for a revoked token and no 5xx but 503;
 *   - every node SIGKILLed under load and started again: fail closed (503), then full service.
 * And the settings: REDIS_CLUSTER_NODES excludes REDIS_URL and REDIS_SENTINELS.
 */
import { Cluster, Redis } from 'ioredis';
import { run } from '../../auth/src/cli.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts';
import { DEFAULT_METADATA, runFlow, type FlowResult } from '../support/flow.ts';
import { decodeJwt, registerOk, tokenRequest } from '../support/oauth.ts';
import { Person } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

describe('REDIS_CLUSTER_NODES', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };

  test('the seed nodes and REDIS_PASSWORD make a cluster store', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:6379, 10.0.0.2:7000', REDIS_PASSWORD: 'pw' });
    expect(config.redis).toEqual({
      keyPrefix: 'mcpgw:',
      cluster: {
        nodes: [
          { host: 'redis-1', port: 6379 },
          { host: '10.0.0.2', port: 7000 },
        ],
        password: 'pw',
      },
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'r:1' }).redis).toEqual({
      keyPrefix: 'mcpgw:',
      cluster: { nodes: [{ host: 'r', port: 1 }] },
    });
  });

  test('with REDIS_URL or REDIS_SENTINELS it is refused, with every other problem at once', () => {
    const found = problems({
      REDIS_CLUSTER_NODES: 'redis-1:6379',
      REDIS_URL: 'redis://redis:6379',
      REDIS_SENTINELS: 'sentinel:26379',
      PUBLIC_URL: 'ftp://x',
      COOKIE_SECRETS: 'short',
    });
    expect(found).toHaveLength(4);
    expect(found.join('\n')).toMatch(
      /^PUBLIC_URL.*\nREDIS_CLUSTER_NODES and REDIS_URL: .*\nREDIS_CLUSTER_NODES and REDIS_SENTINELS: .*\nCOOKIE_SECRETS/,
    );
    expect(problems({ REDIS_CLUSTER_NODES: 'redis-1' })).toEqual([
      expect.stringMatching(/^REDIS_CLUSTER_NODES="redis-1": must be host:port pairs/),
    ]);
  });
});

describe('gateways on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let github: GitHubStandin;
  let a: GatewayProcess;
  let b: GatewayProcess;
  const later: GatewayProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    cluster = await startRedisCluster({ replicas: true, appendonly: true, nodeTimeoutMs: 1000 });
    github = await startGitHubStandin();
    // Two masters as seeds: the gateway learns the rest of the cluster from them.
    env = { REDIS_CLUSTER_NODES: cluster.seeds.split(',').slice(1, 3).join(',') };
    a = await startGatewayProcess({ github, env });
    b = await startGatewayProcess({ github, env, publicUrl: a.url });
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), ...later.map((g) => g.stop())]);
    await github?.stop();
    await cluster?.stop();
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** A client registered on `registrar`, a person signing in through A's pages (PUBLIC_URL is A's). */
  const signIn = async (registrar: GatewayProcess = a): Promise<FlowResult> =>
    runFlow({
      base: a.url,
      github,
      person: new Person(a.url, github),
      client: await registerOk(registrar.url, DEFAULT_METADATA),
    });
  /** /verify on any replica, asked as the edge asks it for PUBLIC_URL's host (askVerify's request). */
  const verify = async (on: GatewayProcess, token: string): Promise<number> =>
    (await askVerify(on.url, '/echo/mcp', `Bearer ${token}`, new URL(a.url).host)).status;
  /** /verify's answer once it is `status`, within 3 s (a revocation reaches other replicas as a message). */
  const eventually = async (on: GatewayProcess, token: string, status: number): Promise<number> => {
    let got = await verify(on, token);
    for (const until = Date.now() + 3000; got !== status && Date.now() < until;) {
      await sleep(50);
      got = await verify(on, token);
    }
    return got;
  };
  const serviceOk = (g: GatewayProcess) => {
    expect(g.child.exitCode).toBeNull();
    expect(g.output()).not.toMatch(/(\\n|\n)\s+at \S/);
  };

  test('the whole flow across two replicas; revocations reach the other through the feed; keys spread and tagged', async () => {
    // Registration on B, login and token on A; /verify on B (which keeps the token in its cache).
    const first = await signIn(b);
    expect(first.token?.status).toBe(200);
    const original = first.token!.body.access_token!;
    expect(await verify(b, original)).toBe(200);
    expect(await verify(a, original)).toBe(200);

    // Refresh on B; the new access token works on both.
    const refreshed = await tokenRequest(b.url, first.auth, {
      grant_type: 'refresh_token',
      refresh_token: first.token!.body.refresh_token!,
    });
    expect(refreshed.status).toBe(200);
    const second = refreshed.body.access_token!;
    expect(await verify(a, second)).toBe(200);
    expect(await verify(b, second)).toBe(200);

    // An access token revoked on A (RFC 7009): B, which had it cached, refuses it once the message is in.
    expect((await tokenRequest(a.url, first.auth, { token: second }, '/revoke')).status).toBe(200);
    expect(await verify(a, second)).toBe(401);
    expect(await eventually(b, second, 401)).toBe(401);
    expect(await verify(b, original)).toBe(200);

    // The refresh token revoked on B ends the grant: A refuses the token it had cached.
    expect(
      (
        await tokenRequest(
          b.url,
          first.auth,
          { token: refreshed.body.refresh_token!, token_type_hint: 'refresh_token' },
          '/revoke',
        )
      ).status,
    ).toBe(200);
    expect(await eventually(a, original, 401)).toBe(401);
    expect(await verify(b, original)).toBe(401);

    // A replica started now copies the revoked tokens from every master, and sees live grants.
    const live = await signIn(b);
    const c = await startGatewayProcess({ github, env, publicUrl: a.url });
    later.push(c);
    expect(await verify(c, second)).toBe(401);
    expect(await verify(c, original)).toBe(401);
    expect(await verify(c, live.token!.body.access_token!)).toBe(200);

    // The admin CLI finds the clients (SCAN over every master) and their grants.
    const gid = String(decodeJwt(live.token!.body.access_token!).payload.gid);
    const cli = async (...argv: string[]): Promise<unknown> => {
      let output = '';
      expect(await run([...argv, '--json'], { ...env }, (text) => (output += text))).toBe(0);
      return JSON.parse(output);
    };
    const clients = (await cli('clients', 'list')) as { client_id: string; grants: number }[];
    expect(clients).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ client_id: first.client.client_id, grants: 0 }),
        expect.objectContaining({ client_id: live.client.client_id, grants: 1 }),
      ]),
    );
    expect(await cli('clients', 'show', live.client.client_id)).toMatchObject({
      grants: [expect.objectContaining({ grant_id: gid })],
    });

    // The keys: on every master; the oidc: ones tagged, a grant's record and index in one slot.
    const raw = new Cluster(
      cluster.seeds.split(',').map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) })),
    );
    try {
      await new Promise((resolve) => raw.once('ready', resolve));
      const perMaster = await Promise.all(raw.nodes('master').map((node) => node.keys('mcpgw:*')));
      expect(perMaster).toHaveLength(3);
      for (const held of perMaster) expect(held.length).toBeGreaterThan(0);
      const oidc = perMaster.flat().filter((key) => key.startsWith('mcpgw:oidc:'));
      expect(oidc.length).toBeGreaterThan(5);
      for (const key of oidc) expect(key).toMatch(/^mcpgw:oidc:[^:{}]+:\{[^{}]*\}(:consumed)?$/);
      expect(perMaster.flat()).toEqual(
        expect.arrayContaining([`mcpgw:oidc:Grant:{${gid}}`, `mcpgw:oidc:grant:{${gid}}`]),
      );
      expect(await raw.cluster('KEYSLOT', `mcpgw:oidc:Grant:{${gid}}`)).toBe(
        await raw.cluster('KEYSLOT', `mcpgw:oidc:grant:{${gid}}`),
      );
      expect(perMaster.flat().filter((key) => key.startsWith('mcpgw:revoked:at:'))).toHaveLength(1);
    } finally {
      raw.disconnect();
    }
    for (const g of [a, b, c]) serviceOk(g);
  }, 90_000);

  /**
   * Steady /verify load on both replicas with a token verified before and a revoked one, until
   * `stop()`; every answer recorded.
   */
  function load(before: string, revoked: string) {
    const samples: { kind: string; status: number; at: number }[] = [];
    let running = true;
    const loop = async (on: GatewayProcess) => {
      for (let i = 0; running; i++) {
        const kind = i % 2 ? 'before' : 'revoked';
        const status = await verify(on, kind === 'before' ? before : revoked).catch(() => -1);
        samples.push({ kind, status, at: Date.now() });
        await sleep(20);
      }
    };
    const loops = [loop(a), loop(b)];
    return {
      samples,
      stop: async () => {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  /** A new login, the token from before, a revocation: full service, or undefined after 30 s. */
  async function fullService(before: string): Promise<number | undefined> {
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
      const fresh = await signIn().catch(() => undefined);
      if (fresh?.token?.status !== 200) continue;
      if ((await verify(b, fresh.token.body.access_token!)) !== 200) continue;
      if ((await verify(a, before)) !== 200) continue;
      const revoked = await tokenRequest(a.url, fresh.auth, { token: fresh.token.body.access_token! }, '/revoke');
      if (revoked.status !== 200) continue;
      expect(await eventually(b, fresh.token.body.access_token!, 401)).toBe(401);
      return Date.now();
    }
    return undefined;
  }

  const checkSamples = (samples: { kind: string; status: number }[]) => {
    expect(samples.filter((s) => s.kind === 'revoked' && s.status === 200)).toEqual([]);
    expect([...new Set(samples.map((s) => s.status))].filter((s) => s >= 500 || s < 0).every((s) => s === 503)).toBe(
      true,
    );
  };

  test('a master killed under load: its replica takes over and the gateways follow', async () => {
    const before = (await signIn()).token!.body.access_token!;
    const revokedFlow = await signIn(b);
    const revoked = revokedFlow.token!.body.access_token!;
    expect((await tokenRequest(b.url, revokedFlow.auth, { token: revoked }, '/revoke')).status).toBe(200);
    // Let the replicas catch up with what was just written (replication is asynchronous).
    await sleep(500);

    const traffic = load(before, revoked);
    const victim = cluster.nodes[1]!;
    const replicaPorts = cluster.nodes.slice(3).map((node) => node.port);
    await victim.kill();
    // The victim's replica is promoted once the others agree it failed (cluster-node-timeout 1 s).
    let promoted = 0;
    for (const until = Date.now() + 30_000; Date.now() < until && !promoted; await sleep(100)) {
      const probe = new Redis(cluster.nodes[0]!.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await probe.connect();
        const nodes = String(await probe.cluster('NODES'));
        const info = String(await probe.cluster('INFO'));
        const promotedReplica = nodes
          .split('\n')
          .some(
            (line) => / master /.test(` ${line.split(' ')[2]} `) && replicaPorts.some((p) => line.includes(`:${p}@`)),
          );
        if (info.includes('cluster_state:ok') && promotedReplica) promoted = Date.now();
      } catch {
        // asked again
      } finally {
        probe.disconnect();
      }
    }
    expect(promoted).toBeGreaterThan(0);
    const recovered = await fullService(before);
    await traffic.stop();
    expect(recovered).toBeDefined();
    checkSamples(traffic.samples);
    for (const g of [a, b]) serviceOk(g);
    console.log(
      `cluster failover: replica promoted, full service ${((recovered! - promoted) / 1000).toFixed(1)} s later; ${traffic.samples.length} requests, ${traffic.samples.filter((s) => s.status === 503).length} answered 503`,
    );
    // The old master comes back as a replica of the one that took over.
    await victim.restart();
    await cluster.healthy();
    // A gateway that saw the master gone said so once, and says once that all is back.
    for (const g of [a, b]) {
      const count = (what: RegExp) => g.output().match(what)?.length ?? 0;
      for (const until = Date.now() + 10_000; Date.now() < until; await sleep(100))
        if (count(/storage unreachable/g) === count(/storage reachable again/g)) break;
      expect(count(/storage reachable again/g)).toBe(count(/storage unreachable/g));
    }
  }, 90_000);

  test('every node killed under load, held down, started again: fail closed, then full service', async () => {
    const before = (await signIn()).token!.body.access_token!;
    expect(await verify(b, before)).toBe(200);
    const revokedFlow = await signIn();
    const revoked = revokedFlow.token!.body.access_token!;
    expect((await tokenRequest(a.url, revokedFlow.auth, { token: revoked }, '/revoke')).status).toBe(200);
    await sleep(500);

    const traffic = load(before, revoked);
    await sleep(300);
    const logged = [a, b].map((g) => g.output().length);
    const down = Date.now();
    await cluster.kill();
    // A replica starting now waits for the cluster, and starts when it is back.
    const starting = startGatewayProcess({ github, env, publicUrl: a.url });
    await sleep(3000);
    // A revocation asked while the cluster is down is refused, not dropped.
    const during = await tokenRequest(a.url, revokedFlow.auth, { token: before }, '/revoke');
    expect([during.status, during.body.error]).toEqual([503, 'temporarily_unavailable']);
    await sleep(1000);
    const back = Date.now();
    await cluster.restart();
    const recovered = await fullService(before);
    await traffic.stop();
    expect(recovered).toBeDefined();
    const d = await starting;
    later.push(d);
    expect(d.output()).toContain('waiting for the Redis Cluster at 127.0.0.1:');
    expect(await verify(d, before)).toBe(200);
    expect(await verify(d, revoked)).toBe(401);

    const whileDown = traffic.samples.filter((s) => s.at > down + 50 && s.at < back);
    expect(whileDown.length).toBeGreaterThan(50);
    // The token verified before the outage is accepted from the cache; the revoked one never.
    expect(whileDown.filter((s) => s.kind === 'before').every((s) => s.status === 200)).toBe(true);
    checkSamples(traffic.samples);
    // Said once each way (the masters are pinged every second until all answer).
    for (const [i, g] of [a, b].entries()) {
      serviceOk(g);
      const said = () => g.output().slice(logged[i]);
      for (const until = Date.now() + 3000; !said().includes('storage reachable again') && Date.now() < until;)
        await sleep(100);
      expect(said().match(/storage unreachable/g)).toHaveLength(1);
      expect(said().match(/storage reachable again/g)).toHaveLength(1);
    }
    console.log(
      `cluster outage: ${traffic.samples.length} requests, ${whileDown.length} while down; full service ${((recovered! - back) / 1000).toFixed(1)} s after the nodes returned`,
    );
  }, 120_000);
});
