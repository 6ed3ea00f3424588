/**
 * A machine token for one upstream MCP server (`MCP_<S>_AUTH=client_credentials`, docs in
 * issue 11's docs/upstreams.md to come): the OAuth 2.0 client credentials grant (RFC 6749 §4.4)
 * at the upstream's token endpoint, with the client authenticated by client_secret_basic,
 * client_secret_post (RFC 6749 §2.3.1), private_key_jwt (RFC 7523 §2.2, OpenID Connect Core
 * §9) or a client certificate (RFC 8705 §2, tls_client_auth). One token per service:
 *   - cached, and refreshed ahead of expiry (5 minutes, or 10 % of a short lifetime) while the
 *     cached one is still served: a refresh never stalls a request that a valid token can serve;
 *   - one token request in flight however many requests wait for it;
 *   - network errors and 5xx retried with exponential backoff and full jitter, a 4xx never
 *     (the answer would not change);
 *   - the scope granted checked against the scope asked for (RFC 6749 §5.1: `scope` is returned
 *     when it differs).
 * The token never leaves this object but to be sent upstream; errors and stats carry no secret.
 */
import { tlsFetch } from './tls-fetch.ts';
import {
  requestToken,
  signingAlgorithm,
  UpstreamTokenError,
  type ClientAuthentication,
  type UpstreamTokenFailure,
} from './client-auth.ts';

export type { ClientAuthentication, UpstreamTokenFailure } from './client-auth.ts';
export { signingAlgorithm, UpstreamTokenError } from './client-auth.ts';

export interface ClientCredentialsOptions {
  tokenUrl: string;
  clientId: string;
  auth: ClientAuthentication;
  /** Scopes to ask for, space-separated. */
  scope?: string;
  /** RFC 8707 resource indicator: the upstream MCP server's URL. */
  resource?: string;
  /** Attempts for one token request on network errors and 5xx (default 4). */
  attempts?: number;
  /** Backoff base and cap in ms (default 200 and 5000): attempt n waits random(0, min(cap, base·2ⁿ)). */
  backoff?: { baseMs: number; capMs: number };
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Epoch ms (tests move time). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface Cached {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

/** Without expires_in the lifetime is unknown: keep the token this long, then ask again. */
const UNKNOWN_LIFETIME_S = 300;
const REFRESH_AHEAD_S = 300;

export class ClientCredentialsSource {
  private readonly options: ClientCredentialsOptions;
  private cached: Cached | undefined;
  private inFlight: Promise<Cached> | undefined;
  readonly stats = {
    acquisitions: 0,
    refreshes: 0,
    cacheHits: 0,
    failures: {} as Partial<Record<UpstreamTokenFailure, number>>,
  };

  constructor(options: ClientCredentialsOptions) {
    this.options = options;
    if (options.auth.method === 'none')
      throw new Error('client_credentials: a public client cannot have a machine token');
    if (options.auth.method === 'private_key_jwt') signingAlgorithm(options.auth.key);
    if (options.auth.method === 'tls_client_auth' && !options.tokenUrl.startsWith('https:')) {
      throw new Error('tls_client_auth: the token endpoint must be https');
    }
    this.transport = options.fetch ?? (options.auth.method === 'tls_client_auth' ? tlsFetch(options.auth) : fetch);
  }

  private readonly transport: typeof fetch;

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A token to send upstream now. */
  async token(): Promise<string> {
    const cached = this.cached;
    const now = this.now();
    if (cached && now < cached.expiresAt) {
      this.stats.cacheHits++;
      // Due for a refresh: start one (or join it) and serve the valid token meanwhile.
      if (now >= cached.refreshAt) void this.acquire(true).catch(() => undefined);
      return cached.token;
    }
    return (await this.acquire(false)).token;
  }

  /** Drops the cached token (the upstream answered 401 with it): the next call asks again. */
  invalidate(token?: string): void {
    if (token === undefined || this.cached?.token === token) this.cached = undefined;
  }

  private acquire(refresh: boolean): Promise<Cached> {
    this.inFlight ??= this.request()
      .then(
        (fresh) => {
          this.cached = fresh;
          if (refresh) this.stats.refreshes++;
          else this.stats.acquisitions++;
          return fresh;
        },
        (err: unknown) => {
          const reason = err instanceof UpstreamTokenError ? err.reason : 'unavailable';
          this.stats.failures[reason] = (this.stats.failures[reason] ?? 0) + 1;
          throw err;
        },
      )
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async request(): Promise<Cached> {
    const { attempts = 4, backoff = { baseMs: 200, capMs: 5000 } } = this.options;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let last: UpstreamTokenError | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(Math.random() * Math.min(backoff.capMs, backoff.baseMs * 2 ** attempt));
      try {
        return await this.once();
      } catch (err) {
        if (!(err instanceof UpstreamTokenError) || err.reason !== 'unavailable') throw err;
        last = err;
      }
    }
    throw last!;
  }

  /** One token request (RFC 6749 §4.4.2) and its answer (§5.1, §5.2). */
  private async once(): Promise<Cached> {
    const { tokenUrl, clientId, auth, scope, resource, timeoutMs } = this.options;
    const params: Record<string, string> = { grant_type: 'client_credentials' };
    if (scope) params.scope = scope;
    if (resource) params.resource = resource;
    const requestedAt = this.now();
    const answer = await requestToken({
      tokenUrl,
      clientId,
      auth,
      params,
      nowSeconds: Math.floor(requestedAt / 1000),
      fetch: this.transport,
      timeoutMs,
    });
    if (scope && answer.scope !== undefined) {
      const granted = new Set(answer.scope.split(' '));
      const missing = scope.split(' ').filter((s) => s && !granted.has(s));
      if (missing.length) {
        throw new UpstreamTokenError('scope', `token endpoint granted less than asked: missing ${missing.join(' ')}`);
      }
    }
    const lifetime = answer.expires_in ?? UNKNOWN_LIFETIME_S;
    const ahead = Math.min(REFRESH_AHEAD_S, lifetime * 0.1);
    // Counted from when the request left: the token cannot have lived longer than that.
    return {
      token: answer.access_token,
      expiresAt: requestedAt + lifetime * 1000,
      refreshAt: requestedAt + (lifetime - ahead) * 1000,
    };
  }
}
