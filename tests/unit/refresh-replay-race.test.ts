/**
 * The refresh grace window's one race between replicas (REFRESH_TOKEN_REUSE_GRACE): a second
 * request looks for the first answer, finds none, and before it takes the lock the first request
 * ends (answer written, lock released). The second must then find the answer under its lock, not
 * use the token again: reuse of a rotated refresh token revokes the grant (RFC 9700 §4.14.2).
 * Two replicas share one store; the second one's lock is held back until the first one is done.
 * And how long a second request waits: a working holder's lock outlives the wait (503, Retry-After),
 * a crashed holder's lapses within it (the request is then judged on its own).
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import type Provider from 'oidc-provider';
import { TemporarilyUnavailableError } from '../../auth/src/errors.ts';
import { createLogger } from '../../auth/src/log.ts';
import { RefreshReplay } from '../../auth/src/oidc/refresh-replay.ts';
import { refreshLockKey } from '../../auth/src/storage/keys.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import type { Json, SetOptions, Store } from '../../auth/src/storage/store.ts';

const sealingKey = randomBytes(32);
const client = { clientId: 'c1', clientAuthMethod: 'none' };
const answer = { access_token: 'at-2', refresh_token: 'rt-2', token_type: 'Bearer', expires_in: 3600 };

/** What oidc-provider shows RefreshReplay: grant.success, and the client and successor lookups. */
function fakeProvider(): Provider & EventEmitter {
  const provider = new EventEmitter() as Provider & EventEmitter;
  Object.assign(provider, {
    Client: { find: async (id: string) => (id === client.clientId ? client : undefined) },
    RefreshToken: { find: async (id: string) => (id === answer.refresh_token ? { consumed: false } : undefined) },
  });
  return provider;
}

function response() {
  const sent: { status?: number; body?: string } = {};
  const res = {
    writeHead: (status: number) => {
      sent.status = status;
      return res;
    },
    end: (body: string) => {
      sent.body = body;
    },
  } as unknown as ServerResponse;
  return { res, sent };
}

const params = () => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'c1' });
const req = { headers: {} } as IncomingMessage;

test('a first use that ends between the look and the lock: the second request repeats its answer', async () => {
  const shared = new MemoryStore();
  const providerA = fakeProvider();
  const providerB = fakeProvider();
  const logger = createLogger('silent');
  const a = new RefreshReplay({ store: shared, grace: 30, sealingKey, provider: providerA, logger });

  // Replica B's lock attempt waits until the test lets it go.
  let letLockGo!: () => void;
  const lockHeld = new Promise<void>((resolve) => (letLockGo = resolve));
  let lockAsked!: () => void;
  const lockAttempt = new Promise<void>((resolve) => (lockAsked = resolve));
  const storeB = new Proxy(shared, {
    get(target, name, receiver) {
      if (name === 'set') {
        return async (key: string, value: Json, options?: SetOptions) => {
          if (options?.onlyIfAbsent) {
            lockAsked();
            await lockHeld;
          }
          return target.set(key, value, options);
        };
      }
      const member = Reflect.get(target, name, receiver) as unknown;
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  }) as Store;
  const b = new RefreshReplay({ store: storeB, grace: 30, sealingKey, provider: providerB, logger });

  // B looks, finds no answer, and goes for the lock (held back).
  let usedByB = 0;
  const second = response();
  const bDone = b.handle(params(), req, second.res, async () => {
    usedByB += 1;
  });
  await lockAttempt;

  // A uses the token from start to end: answer written, lock released.
  const first = response();
  await a.handle(params(), req, first.res, async () => {
    providerA.emit('grant.success', {
      oidc: { params: Object.fromEntries(params()), client },
      body: { ...answer },
    });
    first.res.writeHead(200);
    first.res.end(JSON.stringify(answer));
  });

  // Now B takes the free lock: it must answer with A's answer, not use the token again.
  letLockGo();
  await bDone;
  expect(usedByB).toBe(0);
  expect(second.sent.status).toBe(200);
  expect(JSON.parse(second.sent.body!)).toMatchObject({ access_token: 'at-2', refresh_token: 'rt-2' });
  // And the lock is not left behind.
  expect(await shared.get(refreshLockKey(createHash('sha256').update('rt-1').digest('base64url')))).toBeUndefined();
});

describe('a second request waits for the lock at most 15 s', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('a holder still working after 15 s: 503 temporarily_unavailable, the token not used twice', async () => {
    const store = new MemoryStore();
    const logger = createLogger('silent');
    const a = new RefreshReplay({ store, grace: 30, sealingKey, provider: fakeProvider(), logger });
    const b = new RefreshReplay({ store, grace: 30, sealingKey, provider: fakeProvider(), logger });
    // A's first use hangs (a slow identity provider, say): its lock is renewed every 2 s.
    let endA!: () => void;
    const aDone = a.handle(params(), req, response().res, () => new Promise<void>((resolve) => (endA = resolve)));
    await jest.advanceTimersByTimeAsync(10);
    let usedByB = 0;
    const bDone = b
      .handle(params(), req, response().res, async () => {
        usedByB += 1;
      })
      .then(
        () => 'answered',
        (err: unknown) => err,
      );
    await jest.advanceTimersByTimeAsync(14_000);
    let settled = false;
    void bDone.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false); // still waiting after 14 s: the lock outlived its 6 s life by renewal
    await jest.advanceTimersByTimeAsync(1_500);
    const error = await bDone;
    expect(error).toBeInstanceOf(TemporarilyUnavailableError);
    expect((error as TemporarilyUnavailableError).headers()).toEqual({ 'retry-after': '1' });
    expect(usedByB).toBe(0);
    endA();
    await aDone;
  });

  test("a crashed holder's lock lapses within 6 s: the request is then judged on its own", async () => {
    const store = new MemoryStore();
    const b = new RefreshReplay({
      store,
      grace: 30,
      sealingKey,
      provider: fakeProvider(),
      logger: createLogger('silent'),
    });
    // The lock as a holder killed mid-refresh leaves it: never renewed, never released.
    await store.set(refreshLockKey(createHash('sha256').update('rt-1').digest('base64url')), 1, { ttl: 6 });
    let usedAt = 0;
    const start = Date.now();
    const bDone = b.handle(params(), req, response().res, async () => {
      usedAt = Date.now() - start;
    });
    await jest.advanceTimersByTimeAsync(7_000);
    await bDone;
    expect(usedAt).toBeGreaterThanOrEqual(6_000);
    expect(usedAt).toBeLessThan(7_000);
  });
});
