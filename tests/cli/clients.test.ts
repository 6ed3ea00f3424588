/**
 * `clients list | show | revoke` of the admin CLI, run in-process against the Redis of a real
 * running service: clients and grants come from real flows, and revoking must reach the
 * running service (its /verify cache hears of it) as well as storage.
 */
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../mcp-services/catalogue.ts';
import { run, type Terminal } from '../../auth/src/cli.ts';
import { listClients, showClient } from '../../auth/src/admin/clients.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { DEFAULT_METADATA, runFlow, type FlowResult } from '../support/flow.ts';
import { decodeJwt, registerOk, tokenRequest, type Registered } from '../support/oauth.ts';

const PREFIX = 'cli:';
let github: GitHubStandin;
let redis: RedisServer;
let gw: RunningAuth;
let cliEnv: Record<string, string>;

/** Two grants (two browsers), a confidential client with one, one whose only grant expired. */
let publicClient: Registered;
let confidential: FlowResult;
let expired: Registered;
let publicGrants: string[];

const noTerminal: Terminal = { interactive: false, ask: () => Promise.reject(new Error('asked without a terminal')) };

async function cli(argv: string[], terminal: Terminal = noTerminal): Promise<{ code: number; output: string }> {
  let output = '';
  const code = await run(argv, cliEnv, (s) => (output += s), terminal);
  return { code, output };
}

const gid = (flow: FlowResult): string => String(decodeJwt(flow.token!.body.access_token!).payload.gid);

async function keysLike(prefix: string, suffix = ''): Promise<string[]> {
  const found: string[] = [];
  for await (const key of gw.store.keys(prefix)) if (key.endsWith(suffix)) found.push(key);
  return found;
}

beforeAll(async () => {
  github = await startGitHubStandin();
  redis = await startRedis();
  gw = await startAuth({ github, redisUrl: redis.url, env: { REDIS_KEY_PREFIX: PREFIX } });
  cliEnv = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, PUBLIC_URL: gw.url, MCP_ECHO_ENABLED: 'true' };

  publicClient = await registerOk(gw.url, { ...DEFAULT_METADATA, client_name: 'Public one' });
  publicGrants = [
    gid(await runFlow({ base: gw.url, github, client: publicClient })),
    gid(await runFlow({ base: gw.url, github, client: publicClient })),
  ];
  confidential = await runFlow({
    base: gw.url,
    github,
    metadata: {
      client_name: 'Confidential',
      redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  });
  const lapsed = await runFlow({ base: gw.url, github, metadata: { ...DEFAULT_METADATA, client_name: 'Lapsed' } });
  expired = lapsed.client;
  await gw.store.delete(`oidc:Grant:${gid(lapsed)}`); // as if it had expired: the index still names it
  expect([publicGrants[0], publicGrants[1], gid(confidential)].every(Boolean)).toBe(true);
});
afterAll(async () => {
  await gw.stop();
  await redis.stop();
  await github.stop();
});

const secretsOf = (...clients: Registered[]) =>
  clients.flatMap((c) => [c.client_secret, c.registration_access_token]).filter((s): s is string => !!s);

describe('clients list', () => {
  test('every client with its live grants, newest first, no secrets', async () => {
    const { code, output } = await cli(['clients', 'list', '--json']);
    expect(code).toBe(0);
    const list = JSON.parse(output) as Awaited<ReturnType<typeof listClients>>;
    const byId = new Map(list.map((c) => [c.client_id, c]));
    expect(byId.get(publicClient.client_id)).toMatchObject({
      client_name: 'Public one',
      redirect_hosts: ['127.0.0.1:9999'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grants: 2,
    });
    expect(byId.get(confidential.client.client_id)).toMatchObject({
      redirect_hosts: ['claude.ai'],
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'web',
      grants: 1,
    });
    expect(byId.get(expired.client_id)?.grants).toBe(0);
    const issued = list.map((c) => c.issued_at!);
    expect(issued).toEqual([...issued].sort((a, b) => b - a));
    // CLIENT_LIFETIME defaults to 90 days.
    expect(byId.get(publicClient.client_id)?.expires_at).toBeGreaterThan(Date.now() / 1000 + 89 * 86400);
    for (const secret of secretsOf(publicClient, confidential.client)) expect(output).not.toContain(secret);
  });

  test('as a table by default', async () => {
    const { code, output } = await cli(['clients', 'list']);
    expect(code).toBe(0);
    const lines = output.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CLIENT_ID\s+NAME\s+REDIRECT HOSTS\s+AUTH METHOD\s+TYPE\s+ISSUED\s+EXPIRES\s+GRANTS$/);
    const row = (id: string) => lines.find((l) => l.startsWith(id))!.split(/\s+/);
    expect(row(publicClient.client_id).at(-1)).toBe('2');
    expect(row(confidential.client.client_id)).toContain('claude.ai');
    expect(row(expired.client_id).at(-1)).toBe('0');
    // Aligned: every column starts at the same offset on every line.
    const grantsColumn = lines[0]!.indexOf('GRANTS');
    for (const line of lines.slice(1)) expect(line.slice(grantsColumn - 2, grantsColumn)).toBe('  ');
    for (const secret of secretsOf(publicClient, confidential.client)) expect(output).not.toContain(secret);
  });
});

describe('clients show', () => {
  test('metadata without the secret, and the live grants', async () => {
    const { code, output } = await cli(['clients', 'show', confidential.client.client_id, '--json']);
    expect(code).toBe(0);
    const details = JSON.parse(output) as NonNullable<Awaited<ReturnType<typeof showClient>>>;
    expect(details.metadata.client_id).toBe(confidential.client.client_id);
    expect(details.metadata.client_name).toBe('Confidential');
    expect(details.metadata).not.toHaveProperty('client_secret');
    expect(details.grants).toEqual([
      {
        grant_id: gid(confidential),
        account_id: 'github:1001',
        login: 'octocat',
        resources: { [`${gw.url}/echo/mcp`]: ['mcp'] },
        scopes: expect.any(Array),
        expires_at: expect.any(Number),
      },
    ]);
    expect(output).not.toContain(confidential.client.client_secret);
  });

  test('as text', async () => {
    const { code, output } = await cli(['clients', 'show', publicClient.client_id]);
    expect(code).toBe(0);
    expect(output).toMatch(/^client_name\s+Public one$/m);
    expect(output).toContain('2 grants');
    for (const grant of publicGrants) expect(output).toMatch(new RegExp(`^${grant}\\s+octocat \\(github:1001\\)`, 'm'));
    expect(output).toContain(`${gw.url}/echo/mcp (mcp)`);
  });
});

describe('clients revoke', () => {
  test('without --yes and without a terminal: refused with 64, nothing removed', async () => {
    const before = await keysLike('');
    const { code, output } = await cli(['clients', 'revoke', confidential.client.client_id]);
    expect(code).toBe(64);
    expect(output).toContain('--yes');
    expect((await keysLike('')).sort()).toEqual(before.sort());
  });

  test('at a terminal, asks; anything but yes revokes nothing', async () => {
    const questions: string[] = [];
    const terminal: Terminal = { interactive: true, ask: async (q) => (questions.push(q), 'n') };
    const { code, output } = await cli(['clients', 'revoke', publicClient.client_id], terminal);
    expect(code).toBe(1);
    expect(questions).toEqual([expect.stringContaining('"Public one" and its 2 grants?')]);
    expect(output).toContain('Nothing revoked');
    expect((await showClient(gw.store, publicClient.client_id))?.grants).toHaveLength(2);
  });

  test('removes the client, its grants and tokens, consents and registration tokens; the service follows', async () => {
    const { client, auth, token } = confidential;
    const accessToken = token!.body.access_token!;
    const host = new URL(gw.url).host;
    const decide = () =>
      gw.service.decider.decide({ method: 'POST', uri: '/echo/mcp', host, authorization: `Bearer ${accessToken}` });
    expect((await decide()).status).toBe(200); // now in the token cache
    const grantIndex = await gw.store.setMembers(`oidc:grant:${gid(confidential)}`);
    expect(grantIndex.some((k) => k.startsWith('oidc:RefreshToken:'))).toBe(true);
    expect(await keysLike('consent:', `:${client.client_id}`)).toHaveLength(1);

    const { code, output } = await cli(['clients', 'revoke', client.client_id, '--yes']);
    expect(code).toBe(0);
    expect(output).toContain('1 grant ');
    expect(output).toContain('1 remembered consent,');
    expect(output).toContain('1 registration access token.');

    // The running service drops its cached acceptance as soon as the announcement arrives.
    const deadline = Date.now() + 2000;
    let decision = await decide();
    while (decision.status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      decision = await decide();
    }
    expect(decision.status).toBe(401);
    expect(decision.reason).toBe('grant_revoked');

    expect(await gw.store.get(`oidc:Client:${client.client_id}`)).toBeUndefined();
    expect(await gw.store.get(`oidc:Grant:${gid(confidential)}`)).toBeUndefined();
    expect(await gw.store.getMany(grantIndex)).toEqual(grantIndex.map(() => undefined));
    expect(await keysLike('consent:', `:${client.client_id}`)).toEqual([]);
    const tokens = await gw.store.getMany<{ clientId?: string }>(await keysLike('oidc:RegistrationAccessToken:'));
    expect(tokens.filter((t) => t?.clientId === client.client_id)).toEqual([]);

    const introspected = await tokenRequest(gw.url, auth, { token: accessToken }, '/introspect');
    expect(introspected.body.error).toBe('invalid_client');
    const refreshed = await tokenRequest(gw.url, auth, {
      grant_type: 'refresh_token',
      refresh_token: token!.body.refresh_token!,
    });
    expect(refreshed.status).not.toBe(200);
    const read = await fetch(client.registration_client_uri!, {
      headers: { authorization: `Bearer ${client.registration_access_token}` },
    });
    expect(read.status).toBe(401);

    // Nothing of the other clients went with it.
    const list = await listClients(gw.store);
    expect(list.map((c) => c.client_id)).not.toContain(client.client_id);
    expect(list.find((c) => c.client_id === publicClient.client_id)?.grants).toBe(2);
    expect(await keysLike('consent:', `:${publicClient.client_id}`)).toHaveLength(1);
  });

  test('at a terminal, yes revokes', async () => {
    const terminal: Terminal = { interactive: true, ask: async () => 'yes' };
    const { code, output } = await cli(['clients', 'revoke', expired.client_id], terminal);
    expect(code).toBe(0);
    expect(output).toContain('0 grants');
    expect(await showClient(gw.store, expired.client_id)).toBeUndefined();
  });
});

test('an unknown client: exit 1 with a clear message', async () => {
  for (const argv of [
    ['clients', 'show', 'no-such-client'],
    ['clients', 'revoke', 'no-such-client', '--yes'],
  ]) {
    const { code, output } = await cli(argv);
    expect(code).toBe(1);
    expect(output).toBe('No registered client with id no-such-client.\n');
  }
});

// One generated client id in 4 096 begins with "--" (oidc-provider's ids use A-Z a-z 0-9 _ -).
test('a client id beginning with "--" is an id, not an option; "--" ends the options', async () => {
  for (const argv of [
    ['clients', 'show', '--x7Fq2-id', '--json'],
    ['clients', 'revoke', '--yes', '--x7Fq2-id'],
    ['clients', 'show', '--', '--x7Fq2-id'],
  ]) {
    const { code, output } = await cli(argv);
    expect({ argv, code, output }).toEqual({ argv, code: 1, output: 'No registered client with id --x7Fq2-id.\n' });
  }
  const { code, output } = await cli(['clients', 'show', '--json', '--', publicClient.client_id]);
  expect(code).toBe(0);
  expect(JSON.parse(output)).toMatchObject({ metadata: { client_id: publicClient.client_id } });
});

test('usage errors: exit 64', async () => {
  for (const argv of [
    ['clients'],
    ['clients', 'remove', 'x'],
    ['clients', 'show'],
    ['clients', 'list', '--yes'],
    ['clients', 'revoke', 'a', 'b', '--yes'],
    ['clients', 'show', '--', 'a', 'b'],
    ['clients', 'list', '--jsno'],
  ]) {
    const { code, output } = await cli(argv);
    expect({ argv, code }).toEqual({ argv, code: 64 });
    expect(output).toMatch(/^usage: /);
  }
});

test('without REDIS_URL the gateway state is out of reach: exit 69', async () => {
  let output = '';
  const env = { PUBLIC_URL: gw.url, MCP_ECHO_ENABLED: 'true' };
  expect(await run(['clients', 'list'], env, (s) => (output += s), noTerminal)).toBe(69);
  expect(output).toContain('REDIS_URL is not set');
});

test('help: --help, -h and help print the commands on stdout and exit 0', async () => {
  for (const argv of [['--help'], ['-h'], ['help']]) {
    let stdout = '';
    let stderr = '';
    const code = await run(
      argv,
      {},
      (s) => (stdout += s),
      noTerminal,
      (s) => (stderr += s),
    );
    expect({ argv, code, stderr }).toEqual({ argv, code: 0, stderr: '' });
    expect(stdout).toMatch(/^usage: npm run admin -- <command>/);
    expect(stdout).toContain('clients revoke <client_id> [--yes]');
  }
});

test('a usage error prints the usage on stderr, nothing on stdout', async () => {
  let stdout = '';
  let stderr = '';
  const code = await run(
    ['clients', 'nope'],
    {},
    (s) => (stdout += s),
    noTerminal,
    (s) => (stderr += s),
  );
  expect({ code, stdout }).toEqual({ code: 64, stdout: '' });
  expect(stderr).toMatch(/^usage: /);
});

// docs/administration.md's commands as a person types them: through npm (which picks Node 24 when
// the system's is older, as on Debian 12), and the script itself on the Node that runs the tests.
test.each([
  ['npm', ['run', '--silent', 'admin', '--', '--help']],
  [process.execPath, ['auth/src/cli.ts', '--help']],
])('%s %j exits 0 with the usage on stdout', (command, args) => {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  expect(result.stdout).toMatch(/^usage: npm run admin -- <command>/);
});
