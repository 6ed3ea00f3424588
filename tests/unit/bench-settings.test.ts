/**
 * The /verify bench starts the real auth service with bench/verify/auth-env.ts: those settings must
 * load (a rule of the settings once made the bench exit at start, unnoticed), and admit the user
 * its tokens name.
 */
import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../auth/src/config/load.ts';
import { admitToGateway } from '../../auth/src/identity/rules.ts';

const facts = (user: { idp: string; preferred_username: string }) => ({
  id: `${user.idp}:1`,
  provider: user.idp,
  login: user.preferred_username,
  emailVerified: false,
  groups: [],
});
import { authEnv, RESOURCE, USER } from '../../bench/verify/auth-env.ts';
import { gatewayEnv, USER as UPSTREAM_USER } from '../../bench/upstream/gateway-env.ts';

test("the bench's auth service settings load, and admit the bench's user at its service", () => {
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const config = loadConfig(authEnv({ port: 8080, redisUrl: 'redis://127.0.0.1:6379', signingKeyPem: String(pem) }));
  expect(config.services.map((s) => s.resource)).toEqual([RESOURCE]);
  expect(config.localUser).toBe(false);
  expect(admitToGateway(config.rules, facts(USER))).toEqual({ ok: true });
});

test("the upstream bench's gateway settings load: a plain remote service and one holding users' tokens", () => {
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const config = loadConfig(
    gatewayEnv({
      port: 8080,
      redisUrl: 'redis://127.0.0.1:6379',
      signingKeyPem: String(pem),
      sealing: 'x'.repeat(43),
      upstreamUrl: 'http://127.0.0.1:9000',
    }),
  );
  expect(config.services.map((s) => [s.name, s.remote?.auth?.mode ?? 'none'])).toEqual([
    ['held', 'user'],
    ['plain', 'none'],
  ]);
  expect(admitToGateway(config.rules, facts(UPSTREAM_USER))).toEqual({ ok: true });
});
