/**
 * Persistence (issue 14): with Redis' append-only file, a crash of Redis and of the gateway
 * (both SIGKILLed, not stopped) loses no client, grant, refresh token, signing key or upstream
 * token. The gateway runs as a real process (`node auth/src/main.ts`), with a remote MCP server
 * that has an authorization of its own (another gateway, in this process, as its authorization
 * server), so that it holds an upstream token for the user.
 */
import { freePort } from '../../auth/src/http/free-port.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.ts';
import { startRedis, type RedisServer } from '../support/redis-server.ts';
import { runFlow } from '../support/flow.ts';
import { registerOk, tokenRequest, type Registered } from '../support/oauth.ts';
import { Person } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';

const PASSWORD = 'upstream password';
let redis: RedisServer;
let github: GitHubStandin;
let upstream: RunningAuth;
let port: number;
let url: string;
/** The gateway's client at the upstream's authorization server. */
let held: Registered;

const startGateway = (): Promise<GatewayProcess> =>
  startGatewayProcess({
    github,
    port,
    env: {
      REDIS_URL: redis.url,
      MCP_HELD_ENABLED: 'true',
      MCP_HELD_URL: `${upstream.url}/echo/mcp`,
      MCP_HELD_AUTH: 'user',
      MCP_HELD_SCOPE: 'mcp offline_access',
      MCP_HELD_CLIENT_ID: held.client_id,
      MCP_HELD_CLIENT_SECRET: held.client_secret!,
    },
  });

/** The key ids the gateway publishes. */
async function kids(): Promise<string[]> {
  const jwks = (await (await fetch(`${url}/jwks`)).json()) as { keys: { kid: string }[] };
  return jwks.keys.map((k) => k.kid);
}

beforeAll(async () => {
  redis = await startRedis({ appendonly: true });
  github = await startGitHubStandin();
  upstream = await startAuth({ localPassword: PASSWORD });
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  held = await registerOk(upstream.url, {
    client_name: 'The gateway',
    redirect_uris: [`${url}/upstream/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}, 30_000);

afterAll(async () => {
  await upstream?.stop();
  await github?.stop();
  await redis?.stop();
});

test('Redis and the gateway SIGKILLed and restarted: clients, grants, refresh tokens, keys, upstream tokens remain', async () => {
  let gateway = await startGateway();
  try {
    const flow = await runFlow({
      base: url,
      github,
      metadata: {
        client_name: 'Persistent client',
        redirect_uris: ['http://127.0.0.1:9999/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      person: new Person(url, github, undefined, [upstream.url]),
      authorize: { login: 'octocat', password: PASSWORD },
      params: { resource: `${url}/held/mcp`, scope: 'mcp' },
    });
    expect(flow.token?.status).toBe(200);
    const access = flow.token!.body.access_token!;
    const before = await askVerify(url, '/held/mcp', `Bearer ${access}`);
    expect(before.status).toBe(200);
    const upstreamAuthorization = before.headers.get('authorization');
    const keysBefore = await kids();
    expect(upstreamAuthorization).toMatch(/^Bearer /);

    // Both crash: no orderly shutdown, no final write.
    await gateway.crash();
    await redis.kill();
    await redis.restart();
    gateway = await startGateway();

    // The client's registration (RFC 7592), with its secret.
    const read = await fetch(`${url}/register/${flow.client.client_id}`, {
      headers: { authorization: `Bearer ${flow.client.registration_access_token as string}` },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { client_name: string }).client_name).toBe('Persistent client');
    // The signing key and the grant: the access token issued before the crash is still good, and
    // the upstream token held for the user is still there and still opens.
    const after = await askVerify(url, '/held/mcp', `Bearer ${access}`);
    expect(after.status).toBe(200);
    expect(after.headers.get('authorization')).toBe(upstreamAuthorization);
    // The refresh token.
    const refreshed = await tokenRequest(url, flow.auth, {
      grant_type: 'refresh_token',
      refresh_token: flow.token!.body.refresh_token!,
    });
    expect(refreshed.status).toBe(200);
    expect((await askVerify(url, '/held/mcp', `Bearer ${refreshed.body.access_token}`)).status).toBe(200);
    // No new signing key was made: the one in storage was found.
    expect(await kids()).toEqual(keysBefore);
  } finally {
    await gateway.crash();
  }
}, 90_000);
