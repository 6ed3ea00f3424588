/**
 * GitHub organisations and teams, and per-service rules (issue 13), against the GitHub stand-in's
 * /user/orgs, /user/teams and /orgs/{org}/members/{user}:
 *   - acme's members are admitted (ALLOWED_GITHUB_ORGS), others are refused at login;
 *   - alice may use echo-stateful and not tmux, bob the reverse (MCP_<S>_ALLOWED_USERS/GROUPS):
 *     a page names the missing rule and the client gets access_denied;
 *   - someone removed from acme loses access within MEMBERSHIP_CACHE_TTL (/verify, refresh);
 *   - rules changed after issuance: /verify answers 403;
 *   - GitHub rate limiting or failing: fail closed, with a page (login) or 503 (/verify), never a 500.
 */
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow, type FlowResult } from '../support/flow.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { tokenRequest } from '../support/oauth.ts';
import { Person, PageError } from '../support/person.ts';
import { askVerify } from '../support/verify-request.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';

const TTL = 2;
let github: GitHubStandin;
let gw: RunningAuth;
const store = new MemoryStore();

const ENV = {
  ALLOWED_GITHUB_USERS: '',
  ALLOWED_GITHUB_ORGS: 'acme',
  MCP_ECHO_STATEFUL_ENABLED: 'true',
  MCP_TMUX_ENABLED: 'true',
  MCP_ECHO_STATEFUL_ALLOWED_USERS: 'alice',
  MCP_TMUX_ALLOWED_GROUPS: 'acme/platform',
  MEMBERSHIP_CACHE_TTL: String(TTL),
};

beforeAll(async () => {
  github = await startGitHubStandin({
    users: [
      { id: 2001, login: 'alice', name: 'Alice', email: 'alice@acme.test' },
      { id: 2002, login: 'bob', name: 'Bob', email: 'bob@acme.test' },
      { id: 2003, login: 'carol', name: 'Carol', email: 'carol@elsewhere.test' },
      { id: 2004, login: 'dave', name: 'Dave', email: 'dave@acme.test' },
    ],
  });
  github.join('acme', 'alice');
  github.join('acme', 'bob', ['platform']);
  github.join('acme', 'dave', ['platform']);
  gw = await startAuth({ github, env: ENV, store });
});

afterAll(async () => {
  await gw?.stop();
  await store.close();
  await github?.stop();
});

const service = (name: string) => `${gw.url}/${name}/mcp`;
const flow = (login: string, name: string, base = gw.url): Promise<FlowResult> =>
  runFlow({
    base,
    github,
    person: new Person(base, github),
    authorize: { login },
    params: { resource: `${base}/${name}/mcp`, scope: 'mcp' },
  });
const bearer = (f: FlowResult) => `Bearer ${f.token!.body.access_token}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the login asks GitHub for read:org, because rules name an organisation', async () => {
  const f = await flow('alice', 'echo-stateful');
  expect(f.token?.status).toBe(200);
  expect(github.grantedScopes.at(-1)!.split(',')).toContain('read:org');
  const res = await askVerify(gw.url, '/echo-stateful/mcp', bearer(f));
  expect(res.status).toBe(200);
  expect(res.headers.get('x-user-groups')).toBe('acme');
  expect(res.headers.get('x-user-provider')).toBe('github');
});

test('someone outside the organisation is refused at login, with the rule named', async () => {
  const err = (await flow('carol', 'echo-stateful').catch((e: unknown) => e)) as PageError;
  expect(err).toBeInstanceOf(PageError);
  expect(err.page.status).toBe(403);
  expect(err.page.body).toContain('ALLOWED_GITHUB_ORGS');
  expect(err.page.body).toContain('acme');
  expect(await store.get('account:github:2003')).toBeUndefined();
  expect(await store.get('identity:token:github:2003')).toBeUndefined();
});

test.each([
  ['alice', 'tmux', 'MCP_TMUX_ALLOWED_GROUPS'],
  ['bob', 'echo-stateful', 'MCP_ECHO_STATEFUL_ALLOWED_USERS'],
])('%s may not use %s: a page names %s, and the client gets access_denied', async (login, name, rule) => {
  const person = new Person(gw.url, github);
  const err = (await runFlow({
    base: gw.url,
    github,
    person,
    authorize: { login },
    params: { resource: service(name), scope: 'mcp' },
  }).catch((e: unknown) => e)) as PageError;
  expect(err).toBeInstanceOf(PageError);
  expect(err.page.status).toBe(403);
  expect(err.page.body).toContain(rule);
  const back = /href="(\/interaction\/[^"]+\/abort)"/.exec(err.page.body)![1]!;
  const location = await person.authorize(new URL(back, gw.url).href);
  expect(location.searchParams.get('error')).toBe('access_denied');
});

test('bob may use tmux (team acme/platform), alice echo-stateful (listed)', async () => {
  const bob = await flow('bob', 'tmux');
  expect((await askVerify(gw.url, '/tmux/mcp', bearer(bob))).headers.get('x-user-groups')).toBe('acme,acme/platform');
  const alice = await flow('alice', 'echo-stateful');
  expect((await askVerify(gw.url, '/echo-stateful/mcp', bearer(alice))).status).toBe(200);
});

test('removed from the organisation: out within MEMBERSHIP_CACHE_TTL, at /verify and at refresh', async () => {
  const dave = await flow('dave', 'tmux');
  expect((await askVerify(gw.url, '/tmux/mcp', bearer(dave))).status).toBe(200);
  github.leave('acme', 'dave');
  await sleep(TTL * 1000 + 300);
  const after = await askVerify(gw.url, '/tmux/mcp', bearer(dave));
  expect(after.status).toBe(401);
  expect(after.headers.get('www-authenticate')).toContain('invalid_token');
  const refreshed = await tokenRequest(gw.url, dave.auth, {
    grant_type: 'refresh_token',
    refresh_token: dave.token!.body.refresh_token!,
  });
  expect(refreshed.status).toBe(400);
  expect(refreshed.body.error).toBe('invalid_grant');
});

test('GitHub rate limiting at login fails closed with a page that says so', async () => {
  github.failNext('memberships', 403);
  const err = (await flow('alice', 'echo-stateful').catch((e: unknown) => e)) as PageError;
  expect(err).toBeInstanceOf(PageError);
  expect(err.page.status).toBe(503);
  expect(err.page.body).toContain('rate limit');
});

test('GitHub failing when memberships are due again: 503, never 200, and access returns with GitHub', async () => {
  const bob = await flow('bob', 'tmux');
  await sleep(TTL * 1000 + 300);
  github.failNext('memberships', 502);
  const during = await askVerify(gw.url, '/tmux/mcp', bearer(bob));
  expect(during.status).toBe(503);
  expect(during.body?.error).toBe('temporarily_unavailable');
  expect((await askVerify(gw.url, '/tmux/mcp', bearer(bob))).status).toBe(200);
});

test('rules changed after issuance: the service answers 403 access_denied', async () => {
  const alice = await flow('alice', 'echo-stateful');
  const port = Number(new URL(gw.url).port);
  await gw.stop();
  // This process's pooled connections to the stopped server learn that they are closed.
  await sleep(100);
  // The same gateway (its storage and address), restarted with echo-stateful for bob alone.
  gw = await startAuth({ github, env: { ...ENV, MCP_ECHO_STATEFUL_ALLOWED_USERS: 'bob' }, store, port });
  const res = await askVerify(gw.url, '/echo-stateful/mcp', bearer(alice));
  expect(res.status).toBe(403);
  expect(res.body?.error).toBe('access_denied');
  expect(res.body?.error_description).toContain('MCP_ECHO_STATEFUL_ALLOWED_USERS');
});
