/**
 * The embedded default without a GitHub app: one local user, password printed at startup,
 * only on loopback.
 */
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { decodeJwt } from '../support/oauth.ts';
import { PageError } from '../support/person.ts';

let gw: RunningAuth;
beforeAll(async () => {
  gw = await startAuth({ localPassword: 'open sesame 123' });
});
afterAll(async () => {
  await gw.stop();
});

test('the local user signs in with the password and gets a token', async () => {
  const r = await runFlow({ base: gw.url, authorize: { password: 'open sesame 123' } });
  expect(r.person.seen.map((s) => s.kind)).toEqual(['login', 'consent']);
  expect(r.token?.status).toBe(200);
  expect(decodeJwt(r.token!.body.access_token!).payload).toMatchObject({
    sub: 'local:local',
    idp: 'local',
    preferred_username: 'local',
  });
});

test('a wrong password shows the login page again with an error, and never logs the password', async () => {
  const attempt = runFlow({ base: gw.url, authorize: { password: 'wrong-guess-xyz' } });
  await expect(attempt).rejects.toBeInstanceOf(PageError);
  const error = (await attempt.catch((e: unknown) => e)) as PageError;
  expect(error.page.status).toBe(401);
  expect(error.page.body).toContain('role="alert"');
  expect(gw.rawLogs.join('\n')).not.toContain('wrong-guess-xyz');
  expect(gw.rawLogs.join('\n')).not.toContain('open sesame 123');
});
