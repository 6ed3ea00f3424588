/**
 * The refresh token reuse grace window (REFRESH_TOKEN_REUSE_GRACE). Refresh tokens rotate on every
 * use, and reusing a rotated one revokes the whole grant (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). Real
 * clients send the same refresh token twice within a second (claude.ai from several egress
 * addresses; any client retrying a refresh whose answer was lost), and would sign their user out.
 * Within the window, the token just rotated gets the very answer of its first use again (same
 * access token, same new refresh token), to the same client asking with the same scope and
 * resource, and only while that new refresh token is unused: only the direct predecessor is
 * forgiven. After the window, reuse revokes the grant as before. The state is in storage, so every
 * replica gives the same answer; concurrent first uses are serialised by a short lock in storage.
 *
 * Keys (docs/storage.md): refresh:answer:<sha256 of the token> (the first answer, sealed with the
 * upstream token key: it holds tokens), refresh:lock:<sha256>; both live at most the window.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { TemporarilyUnavailableError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { refreshAnswerKey, refreshLockKey } from '../storage/keys.ts';
import type { Json, Store } from '../storage/store.ts';
import { open, seal, type Sealed } from '../upstream/token-vault.ts';

interface Answer {
  clientId: string;
  /** The request's scope and resource parameters, as sent (normalised by http/normalize.ts). */
  scope: string;
  resource: string;
  /** Epoch ms of the first answer. */
  at: number;
  body: Sealed;
}

/** How long a second request waits for the first one's answer (the lock's holder). */
const WAIT_MS = 15_000;
/**
 * The lock's life, whatever the window, renewed every LOCK_RENEW_MS while its holder works: it
 * never lapses under a slow first use (a second request would then use the token again, and reuse
 * revokes the grant), and a crashed holder's lapses within LOCK_TTL_S, less than WAIT_MS.
 */
const LOCK_TTL_S = 6;
const LOCK_RENEW_MS = 2_000;
const POLL_MS = 25;

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RefreshReplayOptions {
  store: Store;
  /** Seconds; 0 turns the window off (strict rotation). */
  grace: number;
  sealingKey: Buffer;
  provider: Provider;
  logger: Logger;
}

export class RefreshReplay {
  readonly #o: RefreshReplayOptions;
  /** First answers being written, by token hash: the lock is released only once they are. */
  readonly #writing = new Map<string, Promise<unknown>>();

  constructor(options: RefreshReplayOptions) {
    this.#o = options;
    // oidc-provider's token endpoint emits grant.success with the answer in ctx.body, before it
    // is sent: the first use of a refresh token is kept there.
    options.provider.on('grant.success', (ctx: KoaContextWithOIDC) => this.#remember(ctx));
  }

  get enabled(): boolean {
    return this.#o.grace > 0;
  }

  /**
   * A token request: a refresh within the window of its first use is answered again; anything
   * else goes to the provider (`forward`), the first use of a refresh token under a lock.
   */
  async handle(params: URLSearchParams, req: IncomingMessage, res: ServerResponse, forward: () => Promise<void>) {
    const token = params.get('refresh_token');
    if (!this.enabled || params.get('grant_type') !== 'refresh_token' || !token) return forward();
    const hash = sha256(token);
    if (await this.#replayed(hash, params, req, res)) return;
    const { store } = this.#o;
    const locked = await store.set(refreshLockKey(hash), 1, { ttl: LOCK_TTL_S, onlyIfAbsent: true });
    if (!locked) {
      // Another request (here or on another replica) is using this token now: its answer, once written.
      let held = true;
      for (const until = Date.now() + WAIT_MS; held && Date.now() < until;) {
        await sleep(POLL_MS);
        if (await this.#replayed(hash, params, req, res)) return;
        held = Boolean(await store.get(refreshLockKey(hash)));
      }
      if (await this.#replayed(hash, params, req, res)) return;
      // Still being used: try again shortly (the answer will be there) rather than use it twice.
      if (held) throw new TemporarilyUnavailableError('this refresh token is being used by another request');
      // The first use ended without an answer to share (an error): this request is judged on its own.
      return forward();
    }
    const renew = setInterval(() => {
      store.set(refreshLockKey(hash), 1, { ttl: LOCK_TTL_S }).catch(() => undefined);
    }, LOCK_RENEW_MS);
    renew.unref();
    try {
      // Asked again under the lock: a first use may have ended, answer written and lock released,
      // between the look above and taking the lock. Its holder writes the answer before releasing,
      // so now it is there if that happened; used again, the token would revoke its grant.
      if (await this.#replayed(hash, params, req, res)) return;
      await forward();
      await this.#writing.get(hash);
    } finally {
      clearInterval(renew);
      this.#writing.delete(hash);
      await store.delete(refreshLockKey(hash));
    }
  }

  #remember(ctx: KoaContextWithOIDC): void {
    const params = ctx.oidc.params as Record<string, unknown> | undefined;
    const token = params?.refresh_token;
    if (!this.enabled || params?.grant_type !== 'refresh_token' || typeof token !== 'string') return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (!body || typeof body.access_token !== 'string') return;
    const hash = sha256(token);
    const where = refreshAnswerKey(hash);
    const answer: Answer = {
      clientId: ctx.oidc.client!.clientId,
      scope: typeof params.scope === 'string' ? params.scope : '',
      resource: typeof params.resource === 'string' ? params.resource : '',
      at: Date.now(),
      body: seal(this.#o.sealingKey, where, body),
    };
    const write = this.#o.store
      .set(where, answer as unknown as Json, { ttl: this.#o.grace })
      .catch((err: unknown) =>
        this.#o.logger.warn({ reason: (err as Error).message }, 'refresh answer not kept for the reuse grace window'),
      );
    this.#writing.set(hash, write);
  }

  /** Answers again when this is a replay the window forgives; false otherwise. */
  async #replayed(hash: string, params: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const where = refreshAnswerKey(hash);
    const answer = (await this.#o.store.get<Json>(where)) as unknown as Answer | undefined;
    if (!answer) return false;
    const elapsed = Date.now() - answer.at;
    if (elapsed > this.#o.grace * 1000) return false;
    // The same client, the same question: anything else is reuse, left to the provider to punish.
    if ((params.get('scope') ?? '') !== answer.scope || (params.get('resource') ?? '') !== answer.resource)
      return false;
    if (!(await this.#sameClient(answer.clientId, params, req))) return false;
    const body = open<Record<string, unknown>>(this.#o.sealingKey, where, answer.body);
    if (!body) return false;
    // Only the direct predecessor: once its successor was used, this token is plain reuse.
    const successor = typeof body.refresh_token === 'string' ? body.refresh_token : undefined;
    if (successor) {
      const next = await this.#o.provider.RefreshToken.find(successor).catch(() => undefined);
      if (!next || next.consumed) return false;
    }
    if (typeof body.expires_in === 'number') {
      body.expires_in = Math.max(0, body.expires_in - Math.floor(elapsed / 1000));
    }
    this.#o.logger.info(
      { client: answer.clientId, ageMs: elapsed },
      'refresh token reused within the grace window: the first answer is repeated',
    );
    // RFC 6749 §5.1.
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
    return true;
  }

  /** The client the answer was for, authenticated as it registered (none, or a client secret). */
  async #sameClient(clientId: string, params: URLSearchParams, req: IncomingMessage): Promise<boolean> {
    let id = params.get('client_id') ?? undefined;
    let secret = params.get('client_secret') ?? undefined;
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      // RFC 6749 §2.3.1: form-urlencoded id and secret.
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return false;
      try {
        id = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '));
        secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' '));
      } catch {
        return false;
      }
    }
    if (id !== clientId) return false;
    const client = await this.#o.provider.Client.find(clientId).catch(() => undefined);
    if (!client) return false;
    const method = client.clientAuthMethod;
    if (method === 'none') return secret === undefined;
    if (method !== 'client_secret_basic' && method !== 'client_secret_post') return false;
    if ((method === 'client_secret_basic') !== Boolean(basic) || !secret || !client.clientSecret) return false;
    const given = sha256(secret);
    const expected = sha256(client.clientSecret);
    return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
  }
}
