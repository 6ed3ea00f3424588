/**
 * The service on Redis: what it issued survives a restart — clients, grants, refresh tokens,
 * remembered consent and signing keys — because all of it lives in Redis.
 */
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startRedis } from '../support/redis-server.ts';
import { startAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { tokenRequest } from '../support/oauth.ts';

let github: GitHubStandin;
let redis: Awaited<ReturnType<typeof startRedis>>;
beforeAll(async () => {
  github = await startGitHubStandin();
  redis = await startRedis();
});
afterAll(async () => {
  await github.stop();
  await redis.stop();
});

test('tokens, clients, consent and keys outlive a restart', async () => {
  const env = { REDIS_KEY_PREFIX: 'restart:' };
  const first = await startAuth({ github, redisUrl: redis.url, env });
  const port = Number(new URL(first.url).port);
  const r = await runFlow({ base: first.url, github });
  expect(r.token?.status).toBe(200);
  await first.stop();

  const second = await startAuth({ github, redisUrl: redis.url, env, port });
  try {
    const introspected = await tokenRequest(second.url, r.auth, { token: r.token!.body.access_token! }, '/introspect');
    expect(introspected.body.active).toBe(true);
    const refreshed = await tokenRequest(second.url, r.auth, {
      grant_type: 'refresh_token',
      refresh_token: r.token!.body.refresh_token!,
    });
    expect(refreshed.status).toBe(200);
    // Same client, new browser: login again, no consent page.
    const again = await runFlow({ base: second.url, github, client: r.client });
    expect(again.person.seen.map((s) => s.kind)).toEqual(['login', 'github']);
    expect(again.token?.status).toBe(200);
  } finally {
    await second.stop();
  }
});
