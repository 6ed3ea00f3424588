/**
 * The remote MCP servers with an authorization of their own (`MCP_<S>_AUTH=user|client_credentials`),
 * one `UpstreamService` each, composed from the steps of this directory:
 *   discovery.ts      where the server's authorization lives (skipped with explicit endpoints)
 *   registration.ts   the gateway's client there (skipped with a configured client)
 *   user-tokens.ts    a user's authorization: begin, the callback, token(), refresh, revoke
 *   client-credentials.ts   the service's machine token
 * What the rest of the gateway asks of them:
 *   authorization()   the `Authorization` the upstream request carries (the /verify decision)
 *   missing()/begin() the two-screen flow after the gateway's consent (interactions/upstream.ts)
 *   complete()        `GET /upstream/callback`
 *   rejected()        the upstream answered 401 (refresh once) or 403 (ask for more next time)
 *   revoke()          the user's gateway grant ended, or an operator said so (cli.ts)
 * Discovery and registration are done at first need and kept; a failure is retried at the next
 * need, no sooner than RETRY_AFTER_MS, so that a server that is down is not hammered.
 */
import type { RemoteConfig, UpstreamAuthConfig } from '../config/upstream.ts';
import type { ServiceConfig } from '../config/load.ts';
import { serviceSettingName } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { upstreamAuthorizationKey } from '../storage/keys.ts';
import type { Json, Store } from '../storage/store.ts';
import { FifoMap } from '../verify/fifo-map.ts';
import type { ClientAuthentication } from './client-auth.ts';
import { ClientCredentialsSource, UpstreamTokenError } from './client-credentials.ts';
import { discoverUpstream, UpstreamDiscoveryError, type UpstreamAuthorization } from './discovery.ts';
import { upstreamClient, UpstreamRegistrationError, type UpstreamClient } from './registration.ts';
import { tlsFetch } from './tls-fetch.ts';
import { UpstreamTokenVault } from './token-vault.ts';
import { UpstreamAuthorizationError, UserUpstreamTokens } from './user-tokens.ts';
import { isLoopbackHost } from '../../../contracts/loopback.ts';

export const UPSTREAM_CALLBACK_PATH = '/upstream/callback';
/** Where the gateway's Client ID Metadata Document for a service is served (design). */
export const CLIENT_DOCUMENT_PREFIX = '/.well-known/oauth-client/';

const RETRY_AFTER_MS = 10_000;
/** Decrypted user tokens kept in memory at most this long (a revocation elsewhere is seen after it). */
const MEMORY_TTL_MS = 30_000;
const MEMORY_ENTRIES = 10_000;

export type RemoteService = ServiceConfig & { remote: RemoteConfig & { auth: UpstreamAuthConfig } };

export const hasUpstreamAuth = (s: ServiceConfig): s is RemoteService => s.remote?.auth !== undefined;

/** Why the gateway cannot give a request its upstream authorization. */
export class UpstreamUnavailable extends Error {
  readonly reason: 'needs_authorization' | 'unavailable';
  constructor(reason: UpstreamUnavailable['reason'], message: string) {
    super(message);
    this.name = 'UpstreamUnavailable';
    this.reason = reason;
  }
}

export interface UpstreamsOptions {
  store: Store;
  publicUrl: string;
  sealingKey: Buffer;
  logger: Logger;
  /** Tests: the gateway's outgoing requests. */
  fetch?: typeof fetch;
  now?: () => number;
}

interface Setup {
  as: UpstreamAuthorization;
  client: UpstreamClient;
  user?: UserUpstreamTokens;
  machine?: ClientCredentialsSource;
}

/** Counters for /metrics (http/metrics.ts), by service. */
export interface UpstreamStats {
  acquisitions: number;
  refreshes: number;
  cacheHits: number;
  failures: Record<string, number>;
  /** Upstream answer latency, summed (ms) and counted, from the edge. */
  latencyMsSum: number;
  latencyCount: number;
}

export class UpstreamService {
  readonly name: string;
  readonly remote: RemoteService['remote'];
  private readonly o: UpstreamsOptions;
  private readonly vault: UpstreamTokenVault;
  private readonly fetch: typeof fetch;
  private setupPromise: Promise<Setup> | undefined;
  private ready: Setup | undefined;
  private failedAt = 0;
  private lastFailure: Error | undefined;
  private readonly memory = new FifoMap<string, { header: string; until: number }>(MEMORY_ENTRIES);
  /** Scopes the upstream asked for in a 403 (insufficient_scope): added to the next authorization. */
  private readonly moreScopes = new Set<string>();
  private readonly own = { cacheHits: 0, failures: {} as Record<string, number>, latencyMsSum: 0, latencyCount: 0 };

  constructor(service: RemoteService, options: UpstreamsOptions) {
    this.name = service.name;
    this.remote = service.remote;
    this.o = options;
    this.vault = new UpstreamTokenVault(options.store, options.sealingKey);
    const { ca } = service.remote;
    const auth = service.remote.auth.client?.auth;
    this.fetch =
      options.fetch ??
      (auth?.method === 'tls_client_auth'
        ? tlsFetch(auth)
        : ca
          ? tlsFetch({ ca })
          : (input, init) => fetch(input, init));
  }

  get mode(): 'user' | 'client_credentials' {
    return this.remote.auth.mode;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private fail(reason: string): void {
    this.own.failures[reason] = (this.own.failures[reason] ?? 0) + 1;
  }

  /** Discovery, registration and the token source, once; retried after a failure. */
  setup(): Promise<Setup> {
    if (this.setupPromise) return this.setupPromise;
    if (this.lastFailure && this.now() - this.failedAt < RETRY_AFTER_MS) return Promise.reject(this.lastFailure);
    this.setupPromise = this.build().then(
      (setup) => {
        this.lastFailure = undefined;
        this.ready = setup;
        return setup;
      },
      (err: Error) => {
        this.setupPromise = undefined;
        this.failedAt = this.now();
        this.lastFailure = err;
        this.fail(err instanceof UpstreamDiscoveryError ? `discovery_${err.reason}` : 'setup');
        this.o.logger.warn({ service: this.name, err: { message: err.message } }, 'upstream authorization unavailable');
        throw err;
      },
    );
    return this.setupPromise;
  }

  private async build(): Promise<Setup> {
    const { auth, url } = this.remote;
    const as: UpstreamAuthorization = auth.endpoints
      ? {
          resource: url,
          issuer: new URL(auth.endpoints.authorization ?? auth.endpoints.token).origin,
          authorizationEndpoint: auth.endpoints.authorization ?? '',
          tokenEndpoint: auth.endpoints.token,
          clientIdMetadataDocumentSupported: false,
          codeChallengeMethods: ['S256'],
          tokenEndpointAuthMethods: [],
          via: 'explicit',
        }
      : await discoverUpstream(url, { fetch: this.fetch, timeoutMs: this.remote.timeoutMs });
    const scope = auth.scope ?? as.scope;
    // A signed assertion names the server by its issuer when discovery found one (client-auth.ts).
    const configured = auth.client && {
      ...auth.client,
      auth:
        auth.client.auth.method === 'private_key_jwt' && as.via !== 'explicit'
          ? { ...auth.client.auth, audience: as.issuer }
          : auth.client.auth,
    };
    if (this.mode === 'client_credentials') {
      const machine = new ClientCredentialsSource({
        tokenUrl: as.tokenEndpoint,
        clientId: configured!.clientId,
        auth: configured!.auth as ClientAuthentication,
        ...(scope ? { scope } : {}),
        resource: as.resource,
        fetch: this.fetch,
        timeoutMs: this.remote.timeoutMs,
        ...(this.o.now ? { now: this.o.now } : {}),
      });
      return {
        as,
        client: { clientId: configured!.clientId, tokenEndpointAuthMethod: 'none', via: 'registration' },
        machine,
      };
    }
    const redirectUri = `${this.o.publicUrl}${UPSTREAM_CALLBACK_PATH}`;
    // A Client ID Metadata Document must be fetchable by the upstream's server: https, or
    // both ends on loopback (design, "plain http … only when both … are on loopback").
    const publicUrl = new URL(this.o.publicUrl);
    const documentReachable =
      publicUrl.protocol === 'https:' ||
      (isLoopbackHost(publicUrl.hostname) && isLoopbackHost(new URL(as.issuer).hostname));
    const client: UpstreamClient = configured
      ? {
          clientId: configured.clientId,
          tokenEndpointAuthMethod:
            configured.auth.method === 'client_secret_basic' || configured.auth.method === 'client_secret_post'
              ? configured.auth.method
              : 'none',
          ...('secret' in configured.auth ? { clientSecret: configured.auth.secret } : {}),
          via: 'registration',
        }
      : await upstreamClient(
          { ...as, clientIdMetadataDocumentSupported: as.clientIdMetadataDocumentSupported && documentReachable },
          {
            store: this.o.store,
            sealingKey: this.o.sealingKey,
            publicUrl: this.o.publicUrl,
            service: this.name,
            redirectUri,
            fetch: this.fetch,
            ...(this.o.now ? { now: this.o.now } : {}),
          },
        );
    const user = new UserUpstreamTokens({
      store: this.o.store,
      vault: this.vault,
      service: this.name,
      as,
      client,
      redirectUri,
      ...(scope ? { scope } : {}),
      ...(configured && (configured.auth.method === 'private_key_jwt' || configured.auth.method === 'tls_client_auth')
        ? { auth: configured.auth as ClientAuthentication }
        : {}),
      fetch: this.fetch,
      ...(this.o.now ? { now: this.o.now } : {}),
    });
    return { as, client, user };
  }

  /**
   * The `Authorization` header for a request of `userId` to this upstream. Throws
   * UpstreamUnavailable: `needs_authorization` (the user must authorize the upstream again) or
   * `unavailable` (its authorization server cannot be reached now; the user's grant is kept).
   */
  async authorization(userId: string): Promise<string> {
    const now = this.now();
    if (this.mode === 'user') {
      const kept = this.memory.get(userId);
      if (kept && now < kept.until) {
        this.own.cacheHits++;
        return kept.header;
      }
    }
    let setup: Setup;
    try {
      setup = await this.setup();
    } catch (err) {
      throw new UpstreamUnavailable('unavailable', `${this.name}: ${(err as Error).message}`);
    }
    try {
      if (setup.machine) return `Bearer ${await setup.machine.token()}`;
      const current = await setup.user!.current(userId);
      if (!current)
        throw new UpstreamUnavailable('needs_authorization', `${this.name}: the user has not authorized it`);
      const header = `Bearer ${current.token}`;
      // Kept in memory until it is due for a refresh, and at most MEMORY_TTL_MS (a revocation or
      // refresh by another replica is seen after that).
      const until = Math.min(now + MEMORY_TTL_MS, current.until === undefined ? Infinity : current.until * 1000);
      if (until > now) this.memory.set(userId, { header, until });
      return header;
    } catch (err) {
      if (err instanceof UpstreamUnavailable) throw err;
      if (err instanceof UpstreamTokenError || err instanceof UpstreamAuthorizationError) {
        this.fail(err.reason);
        if (err.reason === 'refused')
          throw new UpstreamUnavailable('needs_authorization', `${this.name}: ${err.message}`);
        throw new UpstreamUnavailable('unavailable', `${this.name}: ${err.message}`);
      }
      throw err;
    }
  }

  /** The user's tokens at this upstream exist (the consent step need not send them there). */
  async authorized(userId: string): Promise<boolean> {
    if (this.mode !== 'user') return true;
    return (await this.vault.find(this.name, userId)) !== undefined;
  }

  /** The upstream's authorization URL for this user; `resume`: where the callback sends the browser. */
  async begin(userId: string, resume: string): Promise<string> {
    const setup = await this.setup();
    const scope = [...new Set([...(this.remote.auth.scope ?? setup.as.scope ?? '').split(' '), ...this.moreScopes])]
      .filter(Boolean)
      .join(' ');
    return setup.user!.begin(userId, resume, scope || undefined);
  }

  async complete(query: URLSearchParams): Promise<{ userId: string; resume: string }> {
    const done = await (await this.setup()).user!.complete(query);
    this.memory.delete(done.userId);
    return done;
  }

  /**
   * The upstream refused a request made with the user's token. 401: one refresh (a client
   * credentials token is dropped and asked for again); the new `Authorization` when there is one.
   * 403 with a scope: remembered for the next authorization, and the user's tokens dropped so
   * that their client's re-authorization repeats the upstream step (design).
   */
  async rejected(userId: string, status: 401 | 403, scope?: string): Promise<string | undefined> {
    this.memory.delete(userId);
    const setup = await this.setup().catch(() => undefined);
    if (!setup) return undefined;
    if (setup.machine) {
      setup.machine.invalidate();
      if (status !== 401) return undefined;
      // No new token (its server refuses or is down): no retry, with an empty one or otherwise.
      const token = await setup.machine.token().catch(() => undefined);
      return token ? `Bearer ${token}` : undefined;
    }
    this.fail(`upstream_${status}`);
    if (status === 403) {
      for (const s of (scope ?? '').split(' ').filter(Boolean)) this.moreScopes.add(s);
      await this.vault.delete(this.name, userId);
      return undefined;
    }
    const token = await setup.user!.rejected(userId).catch(() => undefined);
    return token ? `Bearer ${token}` : undefined;
  }

  /**
   * An edge in front (Traefik's errors middleware, Caddy's handle_response) saw the upstream answer
   * 401 to a request that carried `authorization`: it cannot send the request again, so the client
   * gets the gateway's 401, and the next request must find a usable token. A machine token is
   * dropped; a user's is refreshed once — unless it is the one just obtained (the upstream refuses
   * even fresh tokens) or has no refresh token: then the user's tokens are dropped, and the client's
   * re-authorization repeats the upstream step.
   */
  async rejectedAtEdge(authorization: string | undefined): Promise<void> {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return;
    const setup = await this.setup().catch(() => undefined);
    if (!setup) return;
    if (setup.machine) return setup.machine.invalidate(token);
    const holder = await this.vault.whose(token);
    if (!holder || holder.service !== this.name) return;
    this.memory.delete(holder.userId);
    this.fail('upstream_401');
    const tokens = await this.vault.find(this.name, holder.userId);
    if (!tokens || tokens.access_token !== token) return; // already replaced
    const justObtained = tokens.obtained_at !== undefined && this.now() / 1000 - tokens.obtained_at < 30;
    if (justObtained || !tokens.refresh_token) return this.forget(holder.userId);
    await setup.user!.rejected(holder.userId).catch(() => undefined);
  }

  /** The upstream refused the user's tokens for good: drop them here (it has already ended them). */
  async forget(userId: string): Promise<void> {
    this.memory.delete(userId);
    if (this.mode !== 'user') return;
    await this.vault.delete(this.name, userId);
    this.rediscover();
  }

  /**
   * The next authorization finds the server's authorization anew: its protected resource metadata
   * may now name another authorization server (a migration, MCP SEP-2352), where the gateway then
   * registers. Held tokens keep working meanwhile; the stats of the old setup are kept.
   */
  private rediscover(): void {
    this.setupPromise = undefined;
    this.lastFailure = undefined;
  }

  /** Ends the user's grant at this upstream (RFC 7009 where it has a revocation endpoint). */
  async revoke(userId: string): Promise<boolean> {
    this.memory.delete(userId);
    const setup = await this.setup().catch(() => undefined);
    if (setup?.user) return setup.user.revoke(userId);
    return this.vault.delete(this.name, userId);
  }

  observeLatency(ms: number): void {
    this.own.latencyMsSum += ms;
    this.own.latencyCount++;
  }

  /** Counters for /metrics: this service's, and its token source's once it is set up. */
  get stats(): UpstreamStats {
    const source = this.ready?.machine?.stats ?? this.ready?.user?.stats;
    const failures: Record<string, number> = { ...this.own.failures };
    for (const [k, n] of Object.entries(source?.failures ?? {})) failures[k] = (failures[k] ?? 0) + (n ?? 0);
    return {
      acquisitions: source?.acquisitions ?? 0,
      refreshes: source?.refreshes ?? 0,
      cacheHits: this.own.cacheHits + (this.ready?.machine?.stats.cacheHits ?? 0),
      failures,
      latencyMsSum: this.own.latencyMsSum,
      latencyCount: this.own.latencyCount,
    };
  }
}

/** Every service with an upstream authorization, by name. */
export class Upstreams {
  private readonly byName = new Map<string, UpstreamService>();
  private readonly o: UpstreamsOptions;

  constructor(services: readonly ServiceConfig[], options: UpstreamsOptions) {
    this.o = options;
    for (const s of services) if (hasUpstreamAuth(s)) this.byName.set(s.name, new UpstreamService(s, options));
  }

  get(name: string): UpstreamService | undefined {
    return this.byName.get(name);
  }

  get all(): UpstreamService[] {
    return [...this.byName.values()];
  }

  get size(): number {
    return this.byName.size;
  }

  /**
   * At startup: each `user` service without a configured client is set up (discovery, then
   * registration) within `timeoutMs`. A server whose authorization server offers the gateway no
   * way to become its client (neither Client ID Metadata Documents nor registration), or whose
   * metadata is not https, is a configuration that cannot work: returned as problems, and the
   * gateway does not start. A server that cannot be reached now is only warned about: it is set up
   * at first need.
   */
  async startupProblems(logger: Logger, timeoutMs = 5000): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(
      this.all
        .filter((s) => s.mode === 'user' && !s.remote.auth.client)
        .map(async (service) => {
          const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
          try {
            if ((await Promise.race([service.setup(), timeout])) === 'timeout') {
              logger.warn({ service: service.name }, 'remote MCP server not ready in time: set up at first use');
            }
          } catch (err) {
            const fatal =
              (err instanceof UpstreamRegistrationError && err.reason === 'no_registration') ||
              (err instanceof UpstreamDiscoveryError && err.reason === 'insecure');
            if (fatal) problems.push(`${serviceSettingName(service.name, 'URL')}: ${(err as Error).message}.`);
          }
        }),
    );
    return problems;
  }

  /** The authorization in flight under `state`: its service and where it resumes (not taken). */
  async pending(state: string): Promise<{ service: string; resume: string } | undefined> {
    if (!state) return undefined;
    const pending = (await this.o.store.get<Json>(upstreamAuthorizationKey(state))) as
      { service?: unknown; resume?: unknown } | undefined;
    return typeof pending?.service === 'string' && typeof pending.resume === 'string'
      ? { service: pending.service, resume: pending.resume }
      : undefined;
  }

  /** `GET /upstream/callback`: the service is the one the state was issued for. */
  async complete(query: URLSearchParams): Promise<{ service: string; userId: string; resume: string }> {
    const pending = await this.pending(query.get('state') ?? '');
    const service = pending === undefined ? undefined : this.byName.get(pending.service);
    if (!service) {
      throw new UpstreamAuthorizationError('state', 'this upstream authorization is unknown, expired or already used');
    }
    return { service: service.name, ...(await service.complete(query)) };
  }

  /**
   * A gateway grant ended (oidc/adapter.ts GrantEnded): its user's authorizations at the remote
   * servers among its resources end with it, here and there (RFC 7009).
   */
  async grantEnded(
    grant: { accountId: string; resources: string[] },
    serviceOf: (resource: string) => string | undefined,
  ): Promise<string[]> {
    const ended: string[] = [];
    for (const resource of grant.resources) {
      const service = this.byName.get(serviceOf(resource) ?? '');
      if (service?.mode === 'user' && (await service.revoke(grant.accountId).catch(() => false))) {
        ended.push(service.name);
      }
    }
    return ended;
  }

  /** The user's grants at every upstream end (their gateway grant was revoked, or an operator said so). */
  async revokeUser(userId: string, service?: string): Promise<string[]> {
    const ended: string[] = [];
    for (const s of this.all) {
      if (service !== undefined && s.name !== service) continue;
      if (s.mode === 'user' && (await s.revoke(userId))) ended.push(s.name);
    }
    return ended;
  }
}

export { UpstreamAuthorizationError, UpstreamDiscoveryError, UpstreamRegistrationError };
