/**
 * The /verify bench starts the real auth service with bench/verify/auth-env.ts: those settings must
 * load (a rule of the settings once made the bench exit at start, unnoticed), and admit the user
 * its tokens name.
 */
import { generateKeyPairSync } from 'node:crypto';
import { loadConfig } from '../../auth/src/config/load.ts';
import { createIdentities } from '../../auth/src/identity/index.ts';
import { authEnv, RESOURCE, USER } from '../../bench/verify/auth-env.ts';
import { gatewayEnv, USER as UPSTREAM_USER } from '../../bench/upstream/gateway-env.ts';

test("the bench's auth service settings load, and admit the bench's user at its service", () => {
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const config = loadConfig(authEnv({ port: 8080, redisUrl: 'redis://127.0.0.1:6379', signingKeyPem: String(pem) }));
  expect(config.services.map((s) => s.resource)).toEqual([RESOURCE]);
  expect(config.localUser).toBe(false);
  const identities = createIdentities(config, {});
  expect(identities.isAllowed({ provider: USER.idp, login: USER.preferred_username })).toBe(true);
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
  expect(
    createIdentities(config, {}).isAllowed({ provider: UPSTREAM_USER.idp, login: UPSTREAM_USER.preferred_username }),
  ).toBe(true);
});
