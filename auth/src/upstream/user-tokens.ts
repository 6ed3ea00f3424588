/**
 * A user's authorization at an upstream MCP server (`MCP_<S>_AUTH=user`): the gateway as an OAuth
 * 2.1 client of the upstream's authorization server.
 *   begin()    the upstream authorization URL for this user: authorization code with PKCE S256
 *              (OAuth 2.1 §4.1), a fresh state, and the upstream resource (RFC 8707); what the
 *              callback needs is parked in storage for 10 minutes, once.
 *   complete() the callback: the state taken (single use), the issuer checked when the server says
 *              it sends one (RFC 9207 §2.4), the code exchanged, the tokens sealed (token-vault.ts).
 *   token()    a valid upstream access token for (user, service): refreshed ahead of expiry (5
 *              minutes, or 10 % of a short lifetime), one refresh in flight per (user, service);
 *              a refresh the server refuses ends the upstream grant (the user authorizes again).
 * Upstream tokens never leave this module but towards the upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Json, Store } from '../storage/store.ts';
import {
  authenticateClient,
  requestToken,
  UpstreamTokenError,
  type ClientAuthentication,
  type TokenAnswer,
} from './client-auth.ts';
import { upstreamAuthorizationKey } from '../storage/keys.ts';
import type { UpstreamAuthorization } from './discovery.ts';
import type { UpstreamClient } from './registration.ts';
import type { UpstreamTokens, UpstreamTokenVault } from './token-vault.ts';

const PENDING_TTL_S = 600;
const REFRESH_AHEAD_S = 300;
/** A token due for a refresh still serves while at least this much of its life is left. */
const BACKGROUND_MARGIN_S = 30;

export class UpstreamAuthorizationError extends Error {
  readonly reason: 'state' | 'issuer' | 'denied' | 'refused' | 'unreachable' | 'malformed';
  /** The upstream's OAuth error code, when it sent one. */
  readonly oauthError?: string;
  constructor(reason: UpstreamAuthorizationError['reason'], message: string, oauthError?: string) {
    super(message);
    this.name = 'UpstreamAuthorizationError';
    this.reason = reason;
    this.oauthError = oauthError;
  }
}

interface Pending {
  service: string;
  userId: string;
  verifier: string;
  /** Where to go on when the upstream step is done (the gateway's own interaction). */
  resume: string;
}

export interface UserTokenOptions {
  store: Store;
  vault: UpstreamTokenVault;
  service: string;
  as: UpstreamAuthorization;
  client: UpstreamClient;
  redirectUri: string;
  /** Scopes to ask the upstream for (MCP_<S>_SCOPE, or what discovery found). */
  scope?: string;
  /** The server puts `iss` in its authorization responses (RFC 9207 metadata); default: as.issuerInResponse. */
  issuerInResponse?: boolean;
  /** How the client authenticates, when configured (private_key_jwt, mutual TLS); default: as registered. */
  auth?: ClientAuthentication;
  fetch?: typeof fetch;
  now?: () => number;
}

const b64 = (b: Buffer): string => b.toString('base64url');

export class UserUpstreamTokens {
  private readonly o: UserTokenOptions;
  private readonly refreshing = new Map<string, Promise<UpstreamTokens | undefined>>();
  readonly stats = { acquisitions: 0, refreshes: 0, failures: {} as Record<string, number> };

  constructor(options: UserTokenOptions) {
    this.o = options;
  }

  private now(): number {
    return Math.floor((this.o.now ?? Date.now)() / 1000);
  }

  /** The URL to send the user's browser to; `resume` is where complete() says to go next. */
  async begin(userId: string, resume: string, scope = this.o.scope): Promise<string> {
    const state = b64(randomBytes(32));
    const verifier = b64(randomBytes(32));
    const pending: Pending = { service: this.o.service, userId, verifier, resume };
    await this.o.store.set(upstreamAuthorizationKey(state), pending as unknown as Json, { ttl: PENDING_TTL_S });
    const url = new URL(this.o.as.authorizationEndpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.o.client.clientId);
    url.searchParams.set('redirect_uri', this.o.redirectUri);
    url.searchParams.set('state', state);
    url.searchParams.set('code_challenge', b64(createHash('sha256').update(verifier).digest()));
    url.searchParams.set('code_challenge_method', 'S256');
    url.searchParams.set('resource', this.o.as.resource);
    if (scope) url.searchParams.set('scope', scope);
    return url.href;
  }

  /** The callback's query: the user whose tokens are now kept, and where to resume. */
  async complete(query: URLSearchParams): Promise<{ userId: string; resume: string }> {
    const state = query.get('state') ?? '';
    const pending = (await this.o.store.take<Json>(upstreamAuthorizationKey(state))) as Pending | undefined;
    if (!pending || pending.service !== this.o.service) {
      throw new UpstreamAuthorizationError('state', 'this upstream authorization is unknown, expired or already used');
    }
    // RFC 9207 §2.4: a response naming another issuer (a mix-up) is refused; when the server
    // says it sends `iss`, a response without it is refused too.
    const iss = query.get('iss');
    if ((iss !== null || (this.o.issuerInResponse ?? this.o.as.issuerInResponse)) && iss !== this.o.as.issuer) {
      throw new UpstreamAuthorizationError('issuer', `the authorization response is not from ${this.o.as.issuer}`);
    }
    const error = query.get('error');
    if (error) {
      throw new UpstreamAuthorizationError(
        'denied',
        `${this.o.as.issuer} answered ${error}${query.get('error_description') ? `: ${query.get('error_description')}` : ''}`,
        error,
      );
    }
    const code = query.get('code');
    if (!code) throw new UpstreamAuthorizationError('malformed', 'the authorization response has no code');
    const tokens = await this.tokenRequest({
      grant_type: 'authorization_code',
      code,
      redirect_uri: this.o.redirectUri,
      code_verifier: pending.verifier,
      resource: this.o.as.resource,
    });
    await this.keep(pending.userId, tokens);
    this.stats.acquisitions++;
    return { userId: pending.userId, resume: pending.resume };
  }

  /** A valid access token for the user at this upstream, or undefined: the user must authorize. */
  async token(userId: string): Promise<string | undefined> {
    return (await this.current(userId))?.token;
  }

  /**
   * The token to use now, and until when (epoch seconds) it may be used without asking again.
   * Due for a refresh (5 minutes before expiry, or 10 % of a short lifetime): while more than
   * BACKGROUND_MARGIN_S of its life is left, the token still serves and one refresh runs behind
   * it, so no request waits; closer to its end, requests wait for that one refresh.
   */
  async current(userId: string): Promise<{ token: string; until?: number } | undefined> {
    const tokens = await this.o.vault.find(this.o.service, userId);
    if (!tokens) return undefined;
    const now = this.now();
    const refreshAt = tokens.expires_at === undefined ? undefined : tokens.expires_at - this.ahead(tokens);
    if (refreshAt === undefined || now < refreshAt) return { token: tokens.access_token, until: refreshAt };
    if (!tokens.refresh_token) {
      // GitHub OAuth apps issue no refresh token: usable until it expires, then authorize again.
      return tokens.expires_at! > now ? { token: tokens.access_token, until: tokens.expires_at } : undefined;
    }
    if (tokens.expires_at! - now > BACKGROUND_MARGIN_S) {
      void this.refresh(userId, tokens).catch(() => undefined);
      return { token: tokens.access_token, until: now };
    }
    const fresh = await this.refresh(userId, tokens);
    if (!fresh) return undefined;
    const until = fresh.expires_at === undefined ? undefined : fresh.expires_at - this.ahead(fresh);
    return { token: fresh.access_token, until };
  }

  /** The upstream answered 401 with this token: refresh once, or end the upstream grant. */
  async rejected(userId: string): Promise<string | undefined> {
    const tokens = await this.o.vault.find(this.o.service, userId);
    if (!tokens?.refresh_token) {
      await this.o.vault.delete(this.o.service, userId);
      return undefined;
    }
    return (await this.refresh(userId, tokens))?.access_token;
  }

  /**
   * Ends the user's grant at this upstream: the tokens are deleted here, then revoked at the
   * server when it has a revocation endpoint (RFC 7009 §2.1: revoking the refresh token may
   * end the grant; the access token is revoked as well). Best effort upstream; true when held.
   */
  async revoke(userId: string): Promise<boolean> {
    const tokens = await this.o.vault.find(this.o.service, userId);
    const held = await this.o.vault.delete(this.o.service, userId);
    const endpoint = this.o.as.revocationEndpoint;
    if (!tokens || !endpoint) return held;
    const sent = [
      ...(tokens.refresh_token ? [['refresh_token', tokens.refresh_token]] : []),
      ['access_token', tokens.access_token],
    ];
    for (const [hint, token] of sent) {
      const form = new URLSearchParams({ token: token!, token_type_hint: hint! });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      authenticateClient(
        { form, headers },
        {
          clientId: this.o.client.clientId,
          tokenUrl: this.o.as.tokenEndpoint,
          auth: this.clientAuth(),
          nowSeconds: this.now(),
        },
      );
      await (this.o.fetch ?? fetch)(endpoint, {
        method: 'POST',
        headers,
        body: form,
        redirect: 'error',
        signal: AbortSignal.timeout(10_000),
      })
        .then((res) => res.body?.cancel())
        .catch(() => undefined);
    }
    return held;
  }

  private clientAuth(): ClientAuthentication {
    const { client } = this.o;
    return (
      this.o.auth ??
      (client.tokenEndpointAuthMethod === 'none'
        ? { method: 'none' }
        : { method: client.tokenEndpointAuthMethod, secret: client.clientSecret ?? '' })
    );
  }

  private ahead(tokens: UpstreamTokens): number {
    const lifetime = (tokens.expires_at ?? 0) - (tokens.obtained_at ?? tokens.expires_at ?? 0);
    return lifetime > 0 ? Math.min(REFRESH_AHEAD_S, lifetime * 0.1) : REFRESH_AHEAD_S;
  }

  private refresh(userId: string, tokens: UpstreamTokens): Promise<UpstreamTokens | undefined> {
    const running = this.refreshing.get(userId);
    if (running) return running;
    const started = this.tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token!,
      resource: this.o.as.resource,
    })
      .then(async (fresh) => {
        // OAuth 2.1 §4.3.3: a server that does not rotate keeps the refresh token valid.
        const kept = await this.keep(userId, { ...fresh, refresh_token: fresh.refresh_token ?? tokens.refresh_token });
        this.stats.refreshes++;
        return kept;
      })
      .catch(async (err: unknown) => {
        const reason = err instanceof UpstreamAuthorizationError ? err.reason : 'unreachable';
        this.stats.failures[reason] = (this.stats.failures[reason] ?? 0) + 1;
        // Refused (invalid_grant: revoked, expired): the upstream grant is over.
        if (reason === 'refused') await this.o.vault.delete(this.o.service, userId);
        if (reason === 'refused') return undefined;
        throw err;
      })
      .finally(() => this.refreshing.delete(userId));
    this.refreshing.set(userId, started);
    return started;
  }

  private async keep(userId: string, tokens: UpstreamTokens): Promise<UpstreamTokens> {
    await this.o.vault.save(this.o.service, userId, tokens);
    return tokens;
  }

  /** A token request (OAuth 2.1 §4.1.3, §4.3) authenticated as the client was registered. */
  private async tokenRequest(params: Record<string, string>): Promise<UpstreamTokens> {
    const { client, as } = this.o;
    const requestedAt = this.now();
    let answer: TokenAnswer;
    try {
      answer = await requestToken({
        tokenUrl: as.tokenEndpoint,
        clientId: client.clientId,
        auth: this.clientAuth(),
        params,
        nowSeconds: requestedAt,
        fetch: this.o.fetch ?? fetch,
      });
    } catch (err) {
      if (!(err instanceof UpstreamTokenError)) throw err;
      const reason = err.reason === 'unavailable' ? 'unreachable' : err.reason === 'refused' ? 'refused' : 'malformed';
      throw new UpstreamAuthorizationError(reason, `${as.issuer}: ${err.message}`, err.oauthError);
    }
    return {
      access_token: answer.access_token,
      ...(answer.refresh_token ? { refresh_token: answer.refresh_token } : {}),
      ...(answer.expires_in ? { expires_at: requestedAt + answer.expires_in, obtained_at: requestedAt } : {}),
      ...(answer.scope !== undefined ? { scope: answer.scope } : {}),
      issuer: as.issuer,
    };
  }
}
