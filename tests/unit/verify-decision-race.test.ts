/**
 * The decision's one race with revocation: a storage read that began before a revocation
 * arrived may answer "active" after it. That answer serves its own request, but is remembered
 * neither by the token cache nor by the replica: the next request for the token asks again.
 */
import { Counters } from '../../auth/src/http/metrics.ts';
import { createLogger } from '../../auth/src/log.ts';
import type { AccessTokenClaims, AccessTokenVerifier, TokenRejected } from '../../auth/src/oidc/access-tokens.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { VerifyDecider, type DeciderDeps } from '../../auth/src/verify/decision.ts';
import { RevocationReplica } from '../../auth/src/verify/revocation-replica.ts';
import { TokenCache } from '../../auth/src/verify/token-cache.ts';

const service = { name: 'echo', resource: 'https://gw.example/echo/mcp', scopes: ['mcp'], metadataUrl: 'x' };
const now = Math.floor(Date.now() / 1000);
const claims = {
  sub: 'github:1',
  client_id: 'c',
  jti: 't1',
  gid: 'g1',
  aud: service.resource,
  scope: 'mcp',
  iat: now,
  exp: now + 600,
  idp: 'github',
  preferred_username: 'octocat',
} as AccessTokenClaims;

test('a storage answer that raced a revocation is not remembered', async () => {
  const store = new MemoryStore();
  const replica = new RevocationReplica({ store, logger: createLogger('silent'), tokenLifetime: 3600 });
  await replica.load();
  const cache = new TokenCache();
  const reads: ((revoked: TokenRejected | undefined) => void)[] = [];
  const verifier = {
    verify: () => claims,
    revocation: () => new Promise<TokenRejected | undefined>((resolve) => reads.push(resolve)),
  } as unknown as AccessTokenVerifier;
  const decider = new VerifyDecider({
    publicHost: 'gw.example',
    counters: new Counters(),
    registry: { byName: (name: string) => (name === 'echo' ? service : undefined) },
    verifier,
    identities: { admission: { check: () => ({ ok: true }), groupsHeader: () => '' } },
    cache,
    replica,
    logger: createLogger('silent'),
  } as unknown as DeciderDeps);
  const ask = () =>
    decider.decide({ method: 'POST', uri: '/echo/mcp', host: 'gw.example', authorization: 'Bearer a.b.c' });

  const first = ask();
  expect(first).toBeInstanceOf(Promise); // storage is asked: the replica does not know g1 yet
  replica.grantRevoked('g1'); // the revocation arrives while the read is out…
  reads.shift()!(undefined); // …and the read, answered before it, says "active"
  expect((await first).status).toBe(200);

  const second = ask();
  expect(second).toBeInstanceOf(Promise); // neither cached nor vouched for: storage again
  expect(reads).toHaveLength(1);
  reads.shift()!(undefined);
  expect((await second).status).toBe(200);
  // With no revocation in between, the answer is remembered: the third request is answered at once.
  expect(ask()).not.toBeInstanceOf(Promise);
  await store.close();
});
