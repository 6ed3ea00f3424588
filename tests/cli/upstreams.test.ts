/**
 * `upstreams list | revoke` of the admin CLI, in-process, on a real Redis holding sealed upstream
 * tokens, with the upstream stand-in as the remote server: the list says what is held and never a
 * token; revoke ends a user's authorization here and at the server (RFC 7009 with the gateway's
 * own registration there).
 */
import { run, type Terminal } from '../../auth/src/cli.ts';
import { upstreamGrantEnded } from '../../auth/src/admin/upstreams.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { createLogger } from '../../auth/src/log.ts';
import { createStore } from '../../auth/src/storage/index.ts';
import type { Store } from '../../auth/src/storage/store.ts';
import { loadUpstreamKey, UpstreamTokenVault } from '../../auth/src/upstream/token-vault.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { startUpstreamStandin, type UpstreamStandin } from '../support/upstream-standin.ts';

const PREFIX = 'cli-upstreams:';
let redis: RedisServer;
let upstream: UpstreamStandin;
let store: Store;
let env: Record<string, string>;
const noTerminal: Terminal = { interactive: false, ask: () => Promise.reject(new Error('asked without a terminal')) };
const now = Math.floor(Date.now() / 1000);

async function cli(argv: string[], terminal: Terminal = noTerminal): Promise<{ code: number; output: string }> {
  let output = '';
  const code = await run(argv, env, (s) => (output += s), terminal);
  return { code, output };
}

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedis(), startUpstreamStandin({ accessTokenTtl: 300 })]);
  env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    PUBLIC_URL: 'http://127.0.0.1:8000',
    MCP_REMOTE_ENABLED: 'true',
    MCP_REMOTE_URL: upstream.mcpUrl,
    MCP_REMOTE_AUTH: 'user',
    MCP_ECHO_STATEFUL_ENABLED: 'true',
  };
  store = createStore({ redis: { url: redis.url, keyPrefix: PREFIX } }, createLogger('silent'));
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
  await vault.save('remote', 'github:1', {
    access_token: 'upstream-access-secret-1',
    refresh_token: 'upstream-refresh-secret-1',
    obtained_at: now,
    expires_at: now + 300,
    scope: 'mcp:tools',
  });
  await vault.save('remote', 'github:2', { access_token: 'upstream-access-secret-2' });
});
afterAll(async () => {
  await store.close();
  await Promise.all([redis.stop(), upstream.stop()]);
});

test('list: who holds what until when, never a token', async () => {
  const json = await cli(['upstreams', 'list', '--json']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.output)).toEqual([
    {
      service: 'remote',
      user: 'github:1',
      obtained_at: now,
      expires_at: now + 300,
      refreshable: true,
      scope: 'mcp:tools',
    },
    { service: 'remote', user: 'github:2', refreshable: false },
  ]);
  const table = await cli(['upstreams', 'list']);
  expect(table.output).toMatch(/SERVICE\s+USER\s+OBTAINED\s+EXPIRES\s+REFRESH\s+SCOPE/);
  expect(table.output).toMatch(/remote\s+github:1/);
  for (const output of [json.output, table.output]) expect(output).not.toMatch(/secret/);
});

test('revoke: asks first, refuses unknown services, ends the grant here and at the server', async () => {
  expect((await cli(['upstreams', 'revoke', 'github:1', 'remote'])).code).toBe(64);
  const said: string[] = [];
  const no: Terminal = { interactive: true, ask: (q) => (said.push(q), Promise.resolve('n')) };
  expect(await cli(['upstreams', 'revoke', 'github:1'], no)).toEqual({ code: 1, output: 'Nothing revoked.\n' });
  expect(said).toEqual(["End github:1's authorization at every remote MCP server? [y/N] "]);
  expect((await cli(['upstreams', 'revoke', 'github:1', 'echo-stateful', '--yes'])).code).toBe(64);

  const done = await cli(['upstreams', 'revoke', 'github:1', 'remote', '--yes']);
  expect(done).toEqual({
    code: 0,
    output:
      "Ended github:1's authorization at remote; their clients' next calls there are refused until they authorize again.\n",
  });
  // Revoked at the server with the gateway's own registration there (discovery, then RFC 7591).
  expect(upstream.requests).toEqual(expect.arrayContaining(['POST /reg', 'POST /token/revocation']));
  const left = JSON.parse((await cli(['upstreams', 'list', '--json'])).output) as { user: string }[];
  expect(left.map((h) => h.user)).toEqual(['github:2']);
  expect(await cli(['upstreams', 'revoke', 'github:1', '--yes'])).toEqual({
    code: 1,
    output: 'github:1 holds no authorization at any remote MCP server.\n',
  });
});

test("clients revoke: each grant it ends ends its user's authorization at that grant's remote servers", async () => {
  const vault = new UpstreamTokenVault(store, await loadUpstreamKey(store));
  await vault.save('remote', 'github:3', { access_token: 'upstream-access-secret-3' });
  const ended = await upstreamGrantEnded(store, loadConfig(env));
  await ended!({ accountId: 'github:3', resources: ['http://127.0.0.1:8000/echo-stateful/mcp'] });
  expect(await vault.find('remote', 'github:3')).toBeDefined();
  await ended!({ accountId: 'github:3', resources: ['http://127.0.0.1:8000/remote/mcp'] });
  expect(await vault.find('remote', 'github:3')).toBeUndefined();
});

test('--help lists the upstreams commands', async () => {
  const { code, output } = await cli(['--help']);
  expect(code).toBe(0);
  expect(output).toContain('upstreams list [--json]');
  expect(output).toContain('upstreams revoke <user> [<service>] [--yes]');
});
