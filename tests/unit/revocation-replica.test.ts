/**
 * The revocation replica (auth/src/verify/revocation-replica.ts) on the in-memory store: what it
 * vouches for, what it leaves to storage, and the races it must not lose.
 */
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { createLogger } from '../../auth/src/log.ts';
import { RevocationReplica, MAX_REVOKED_TOKENS } from '../../auth/src/verify/revocation-replica.ts';
import type { AccessTokenClaims } from '../../auth/src/oidc/access-tokens.ts';
import { revokedTokenKey } from '../../auth/src/storage/keys.ts';
import { RevocationFeed } from '../../auth/src/storage/revocation-feed.ts';
import { followRevocations } from '../../auth/src/verify/revocation-feed.ts';
import { TokenCache } from '../../auth/src/verify/token-cache.ts';

const now = Date.now();
const claims = (gid: string, jti: string, exp = Math.floor(now / 1000) + 600) =>
  ({ gid, jti, exp, iat: exp - 600, sub: 's', client_id: 'c', aud: 'a' }) as AccessTokenClaims;

let store: MemoryStore;
let replica: RevocationReplica;
beforeEach(async () => {
  store = new MemoryStore();
  replica = new RevocationReplica({ store, logger: createLogger('silent'), tokenLifetime: 3600, maxGrants: 3 });
});
afterEach(() => store.close());

test('nothing is vouched for before the copy of revoked tokens is complete', async () => {
  replica.grantExists(claims('g1', 't1'), replica.epoch);
  expect(replica.check(claims('g1', 't2'))).toBe('unknown');
  await replica.load();
  expect(replica.ready).toBe(true);
  expect(replica.check(claims('g1', 't2'))).toBe('active');
  expect(replica.check(claims('g2', 't3'))).toBe('unknown');
});

test('the copy holds every revoked token in storage', async () => {
  await store.set(revokedTokenKey('old'), 1, { ttl: 60 });
  await replica.load();
  expect(replica.check(claims('g1', 'old'))).toBe('revoked');
  expect(replica.stats.revokedTokens).toBe(1);
});

test('a revoked grant or token is known at once; a storage read that raced it is not remembered', async () => {
  await replica.load();
  const epoch = replica.epoch; // a storage read starts…
  replica.grantRevoked('g1'); // …the grant is revoked meanwhile…
  replica.grantExists(claims('g1', 't1'), epoch); // …and the read, answered before, says it exists.
  expect(replica.check(claims('g1', 't1'))).toBe('unknown');

  replica.grantExists(claims('g2', 't2'), replica.epoch);
  expect(replica.check(claims('g2', 't2'))).toBe('active');
  replica.tokenRevoked('t2');
  expect(replica.check(claims('g2', 't2'))).toBe('revoked');
  expect(replica.check(claims('g2', 't3'))).toBe('active');
  replica.grantRevoked('g2');
  expect(replica.check(claims('g2', 't3'))).toBe('unknown');
});

test('a gap forgets the live grants and copies the revoked tokens again before vouching', async () => {
  await replica.load();
  replica.grantExists(claims('g1', 't1'), replica.epoch);
  await store.set(revokedTokenKey('missed'), 1, { ttl: 60 }); // its message was lost in the gap
  const copied = replica.gap();
  expect(replica.ready).toBe(false);
  expect(replica.check(claims('g1', 't1'))).toBe('unknown');
  await copied;
  expect(replica.check(claims('g1', 'missed'))).toBe('revoked');
  replica.grantExists(claims('g1', 't1'), replica.epoch);
  expect(replica.check(claims('g1', 't1'))).toBe('active');
});

test('a copy overtaken by a later gap does not declare itself complete', async () => {
  await store.set(revokedTokenKey('x'), 1, { ttl: 60 });
  const keys = store.keys.bind(store);
  /** The next copy waits for the returned release before it reads. */
  const gateNextCopy = () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    store.keys = async function* (prefix: string) {
      await gate;
      yield* keys(prefix);
    };
    return release;
  };
  const releaseFirst = gateNextCopy();
  const first = replica.load();
  const releaseSecond = gateNextCopy();
  const second = replica.gap();
  releaseFirst();
  await first; // the first copy ends while a later one is still running
  expect(replica.ready).toBe(false);
  releaseSecond();
  await second;
  expect(replica.ready).toBe(true);
});

test('live grants: bounded, oldest out, never past the token nor five minutes', async () => {
  await replica.load();
  for (const g of ['g1', 'g2', 'g3', 'g4']) replica.grantExists(claims(g, `t-${g}`), replica.epoch, now);
  expect(replica.stats.liveGrants).toBe(3);
  expect(replica.check(claims('g1', 'x'), now)).toBe('unknown');
  expect(replica.check(claims('g4', 'x'), now)).toBe('active');
  expect(replica.check(claims('g4', 'x'), now + 301_000)).toBe('unknown');

  const shortLived = claims('g5', 't5', Math.floor(now / 1000) + 10);
  replica.grantExists(shortLived, replica.epoch, now);
  expect(replica.check(shortLived, now + 9_000)).toBe('active');
  expect(replica.check(shortLived, now + 10_000)).toBe('unknown');
});

test('revoked tokens are kept as long as a token can live, then dropped', async () => {
  await replica.load();
  replica.tokenRevoked('t1', now);
  expect(replica.check(claims('g', 't1'), now + 3_600_000)).toBe('revoked');
  expect(replica.check(claims('g', 't1'), now + 3_661_000)).not.toBe('revoked');
});

test('too many revoked tokens to hold: the replica gives up vouching rather than grow', async () => {
  await replica.load();
  replica.grantExists(claims('g1', 't'), replica.epoch);
  for (let i = 0; i <= MAX_REVOKED_TOKENS; i++) replica.tokenRevoked(`t${i}`);
  expect(replica.stats.revokedTokens).toBe(MAX_REVOKED_TOKENS);
  expect(replica.ready).toBe(false);
  expect(replica.check(claims('g1', 'fresh'))).toBe('unknown');
});

test('the announcing process applies a revocation before announcing returns, ahead of pub/sub', async () => {
  const cache = new TokenCache();
  const feed = new RevocationFeed(store);
  const unfollow = await followRevocations(feed, store, cache, replica, createLogger('silent'));
  try {
    const token = claims('g1', 't1');
    replica.grantExists(token, replica.epoch);
    cache.set('hash-of-t1', token);
    // The in-memory store delivers pub/sub messages on a later turn, as Redis would.
    await feed.tokenRevoked('t1');
    expect(replica.check(token)).toBe('revoked');
    expect(cache.get('hash-of-t1')).toBeUndefined();
    await feed.grantRevoked('g1');
    expect(replica.check(claims('g1', 't2'))).toBe('unknown');
  } finally {
    await unfollow();
  }
});
