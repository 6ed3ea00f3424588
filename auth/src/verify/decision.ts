/**
 * The one decision behind every request to an MCP service: docs/edge.md "The decision".
 * Delivered two ways — the /verify endpoint Traefik's ForwardAuth calls (handler.ts), and the
 * in-process edge of `npm start` (edge/) — with the same inputs and the same answers.
 *
 * The pipeline, in order:
 *   resolveService → preflight → bearer token → cache hit | checkInFull (signature, claims)
 *   → checkRevocation (replica | storage) → accept → authorize (audience → admission to the
 *   gateway and the service → scope → identity headers)
 */
import type { ServiceConfig } from '../config/load.ts';
import type { Identities } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import { TokenRejected, type AccessTokenClaims, type AccessTokenVerifier } from '../oidc/access-tokens.ts';
import { userAdmitted } from '../oidc/active.ts';
import type { Verdict } from '../identity/rules.ts';
import type { ServiceRegistry } from '../oidc/services.ts';
import type { Counters } from '../http/metrics.ts';
import type { RevocationReplica } from './revocation-replica.ts';
import { tokenHash, type TokenCache } from './token-cache.ts';
import { EDGE_SECRET_HEADER, IDENTITY as IDENTITY_HEADER } from '../../../contracts/headers.ts';
import { SERVICE_NAME_PATTERN } from '../../../contracts/service-name.ts';
import {
  AccessDeniedError,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MissingTokenError,
  NotFoundError,
  TemporarilyUnavailableError,
  toWire,
  type Challenge,
  type GatewayError,
} from '../errors.ts';
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import { headerMismatch, type HeaderMismatch, type McpRequestHeaders } from './mcp-headers.ts';

/** What the decision reads of a request: what Traefik forwards (X-Forwarded-*), or the edge sees. */
export interface VerifyRequest {
  /** Original method (X-Forwarded-Method). */
  method: string;
  /** Original path and query (X-Forwarded-Uri). */
  uri: string;
  /** Original host (X-Forwarded-Host); undefined is not accepted. */
  host: string | undefined;
  authorization: string | undefined;
  /** The browser's Origin, when there is one (the client's header, forwarded unchanged). */
  origin?: string;
  /**
   * A POST's MCP headers and parsed JSON body, when the edge gives the body (the local edge;
   * Traefik's `forwardBody`): an accepted request whose headers disagree with it is refused
   * (mcp-headers.ts).
   */
  mcp?: { headers: McpRequestHeaders; body: unknown };
}

/**
 * Which browser origins may call MCP services: MCP transports, "Security Warning" (servers MUST
 * validate Origin, against DNS rebinding). Decided here so that every edge enforces it.
 */
export interface OriginPolicy {
  /** PUBLIC_URL's origin. */
  own: string;
  /** ALLOWED_ORIGINS. */
  allowed: ReadonlySet<string>;
  /** A gateway on loopback also accepts http:// loopback origins (local development). */
  loopback: boolean;
}

export function originAllowed(policy: OriginPolicy, origin: string | undefined): boolean {
  if (origin === undefined) return true; // not a browser, or a same-origin navigation
  if (origin === policy.own || policy.allowed.has(origin)) return true;
  const url = URL.parse(origin);
  return policy.loopback && url !== null && url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

export { IDENTITY_HEADERS } from '../../../contracts/headers.ts';

export interface Decision {
  status: number;
  headers: Record<string, string>;
  /** RFC 6750 §3 / RFC 6749 §5.2 error body, or a JSON-RPC error (mcp-headers.ts); absent on 200. */
  body?: { error: string; error_description?: string } | HeaderMismatch;
  /** Why (logged; never contains the token). */
  reason: string;
  service?: ServiceConfig;
  claims?: AccessTokenClaims;
}

/** The upstream `Authorization` for a service with an authorization of its own (upstream/upstreams.ts). */
export interface UpstreamAuthorizer {
  /** Resolves to the header; rejects with `{ reason: 'needs_authorization' | 'unavailable' }`. */
  authorization(service: string, userId: string): Promise<string>;
}

export interface DeciderDeps {
  publicHost: string;
  origins: OriginPolicy;
  counters: Counters;
  registry: ServiceRegistry;
  verifier: AccessTokenVerifier;
  identities: Identities;
  cache: TokenCache;
  replica: RevocationReplica;
  logger: Logger;
  upstreams?: UpstreamAuthorizer;
}

/** `/<service>/mcp`, `/<service>/mcp/…`, with or without a query. */
const SERVICE_PATH = new RegExp(`^/(${SERVICE_NAME_PATTERN})/mcp(?:[/?#]|$)`);

// RFC 6750 §2.1: b64token after "Bearer" and one space (scheme name case-insensitive, RFC 9110 §11.1).
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Header values are latin-1 on the wire: values with anything else (or `%`) travel
 * percent-encoded, so `decodeURIComponent` always gives the original back (docs/edge.md).
 */
export function headerSafe(value: string | undefined): string {
  if (!value) return '';
  return /^[\x20-\x24\x26-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

const OK_KEY = '200 ok';

/**
 * Identity headers, made once per cached token and kept on its claims object (the cache's) under
 * a symbol: a WeakMap would do the same, but its entries are ephemerons, which make every
 * major garbage collection slower when tokens churn through the cache.
 */
const IDENTITY = Symbol('identity headers');
type WithIdentity = AccessTokenClaims & { [IDENTITY]?: Record<string, string> };
/**
 * `groups` (X-User-Groups) may change while a token lives (memberships are looked up again): the
 * headers are made again when it does.
 */
function identityHeaders(claims: WithIdentity, service: ServiceConfig, groups: string): Record<string, string> {
  const made = claims[IDENTITY];
  if (made && made[IDENTITY_HEADER.groups] === groups) return made;
  // A token's claims are for one service (its audience, checked before this): the edge secret of
  // that service travels with them (edge/chain.ts).
  return (claims[IDENTITY] = {
    [EDGE_SECRET_HEADER]: service.edgeSecret,
    [IDENTITY_HEADER.id]: headerSafe(claims.sub),
    [IDENTITY_HEADER.login]: headerSafe(claims.preferred_username),
    [IDENTITY_HEADER.name]: headerSafe(claims.name),
    [IDENTITY_HEADER.email]: headerSafe(claims.email),
    [IDENTITY_HEADER.provider]: headerSafe(claims.idp),
    [IDENTITY_HEADER.groups]: groups,
    [IDENTITY_HEADER.clientId]: headerSafe(claims.client_id),
  });
}

/**
 * What a remote MCP server with an authorization of its own receives (design: "Remote MCP servers"):
 * its own token, and the identity headers only when MCP_<S>_IDENTITY_HEADERS says so; never the edge
 * secret of our own services.
 */
function upstreamHeaders(
  claims: WithIdentity,
  service: ServiceConfig,
  authorization: string,
  groups: string,
): Record<string, string> {
  if (!service.remote?.identityHeaders) return { authorization };
  const { [EDGE_SECRET_HEADER]: _secret, ...identity } = identityHeaders(claims, service, groups);
  return { ...identity, authorization };
}

/** A remote server without an authorization of its own, with MCP_<S>_IDENTITY_HEADERS=false: the edge secret only. */
function withoutIdentity(service: ServiceConfig): Record<string, string> {
  return { [EDGE_SECRET_HEADER]: service.edgeSecret };
}

export class VerifyDecider {
  private readonly deps: DeciderDeps;
  /** Decisions by "status reason" (a bounded set: reasons are fixed words). */
  private readonly tally = new Map<string, number>();
  private cacheHits = 0;
  private cacheMisses = 0;

  constructor(deps: DeciderDeps) {
    this.deps = deps;
    deps.counters.collect(() => [
      '# HELP verify_decisions_total Decisions of /verify and the edge, by status and reason.',
      '# TYPE verify_decisions_total counter',
      ...[...this.tally].map(([key, n]) => {
        const [status, reason] = key.split(' ');
        return `verify_decisions_total{status="${status}",reason="${reason}"} ${n}`;
      }),
      '# HELP verify_cache_hits_total Access tokens accepted from the verified-token cache.',
      '# TYPE verify_cache_hits_total counter',
      `verify_cache_hits_total ${this.cacheHits}`,
      '# HELP verify_cache_misses_total Access tokens checked in full (signature, claims, storage).',
      '# TYPE verify_cache_misses_total counter',
      `verify_cache_misses_total ${this.cacheMisses}`,
      '# HELP verify_cache_entries Entries in the verified-token cache.',
      '# TYPE verify_cache_entries gauge',
      `verify_cache_entries ${this.deps.cache.size}`,
      ...this.replicaMetrics(),
    ]);
  }

  private replicaMetrics(): string[] {
    const { localHits, storageReads, liveGrants, revokedTokens } = this.deps.replica.stats;
    return [
      '# HELP verify_revocation_local_total New tokens whose revocation state the replica knew (no storage read).',
      '# TYPE verify_revocation_local_total counter',
      `verify_revocation_local_total ${localHits}`,
      '# HELP verify_revocation_storage_reads_total New tokens whose revocation state was read from storage.',
      '# TYPE verify_revocation_storage_reads_total counter',
      `verify_revocation_storage_reads_total ${storageReads}`,
      '# HELP verify_replica_live_grants Grants the replica knows to exist.',
      '# TYPE verify_replica_live_grants gauge',
      `verify_replica_live_grants ${liveGrants}`,
      '# HELP verify_replica_revoked_tokens Revoked access tokens the replica holds.',
      '# TYPE verify_replica_revoked_tokens gauge',
      `verify_replica_revoked_tokens ${revokedTokens}`,
    ];
  }

  /** A refusal at `service`: RFC 6750 §3 challenge with RFC 9728 §5.1 resource_metadata (errors.ts). */
  private refuse(service: ServiceConfig, reason: string, error: GatewayError, claims?: AccessTokenClaims): Decision {
    const challenge = { resource_metadata: service.metadataUrl, scope: service.scopes.join(' ') };
    return this.refusal(reason, error, service, claims, challenge);
  }

  /** A refusal as errors.ts maps it; without a challenge before any service is known. */
  private refusal(
    reason: string,
    error: GatewayError,
    service?: ServiceConfig,
    claims?: AccessTokenClaims,
    challenge?: Challenge,
  ): Decision {
    const wire = toWire(error, undefined, challenge);
    return {
      status: wire.status,
      headers: { ...wire.headers, 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: wire.body,
      reason,
      service,
      claims,
    };
  }

  resolveService(req: VerifyRequest): ServiceConfig | Decision {
    if (req.host?.toLowerCase() !== this.deps.publicHost) {
      return this.refusal(
        'wrong_host',
        new InvalidRequestError(`requests must be addressed to ${this.deps.publicHost}`),
      );
    }
    const name = SERVICE_PATH.exec(req.uri)?.[1];
    const service = name === undefined ? undefined : this.deps.registry.byName(name);
    if (!service) return this.refusal('unknown_service', new NotFoundError('no MCP service at this path'));
    if (!originAllowed(this.deps.origins, req.origin)) {
      return this.refusal('origin_refused', new AccessDeniedError('this origin may not call MCP services'), service);
    }
    return service;
  }

  /**
   * The decision. Synchronous when it can be — every refusal before the token, a token already
   * in the cache (the hot path: no promise, no storage), and a new token whose revocation state
   * the replica knows — a promise only when storage must be asked (or the key set reloaded).
   */
  decide(req: VerifyRequest): Decision | Promise<Decision> {
    const decision = this.access(req);
    if (!req.mcp) return decision;
    return decision instanceof Promise
      ? decision.then((d) => this.headersTrue(req, d))
      : this.headersTrue(req, decision);
  }

  /** An accepted request's MCP headers must say what its body says; else 400 (mcp-headers.ts). */
  private headersTrue(req: VerifyRequest, decision: Decision): Decision {
    if (decision.status !== 200 || decision.reason === 'preflight' || !req.mcp) return decision;
    const refusal = headerMismatch(req.mcp.headers, req.mcp.body);
    if (!refusal) return decision;
    return {
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: refusal,
      reason: 'mcp_header_mismatch',
      service: decision.service,
      claims: decision.claims,
    };
  }

  /** Whether the request's token gives access to its service. */
  private access(req: VerifyRequest): Decision | Promise<Decision> {
    const service = this.resolveService(req);
    if ('status' in service) return service;

    // CORS preflights carry no credentials (Fetch standard §4.8): the edge answers those itself;
    // any other OPTIONS passes to the service, as having come through the edge.
    if (req.method === 'OPTIONS' || req.method.toUpperCase() === 'OPTIONS') {
      const headers: Record<string, string> = service.remote?.auth ? {} : { [EDGE_SECRET_HEADER]: service.edgeSecret };
      return { status: 200, headers, reason: 'preflight', service };
    }

    const authorization = req.authorization;
    if (!authorization) return this.refuse(service, 'no_token', new MissingTokenError());
    // The hot path: `Bearer <token>` exactly, and a token already accepted — which passed the
    // full parse below when it was, so the parse is not repeated.
    const quick = authorization.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    let seen = quick === undefined ? undefined : this.lookup(quick);
    if (seen?.claims) return this.authorize(service, seen.claims);

    const token = BEARER.exec(authorization)?.[1];
    if (!token) {
      if (!/^bearer(\s|$)/i.test(authorization)) return this.refuse(service, 'not_bearer', new MissingTokenError());
      // RFC 6750 §3.1: a malformed request is invalid_request, 400.
      return this.refuse(
        service,
        'malformed_authorization',
        new InvalidRequestError('the Authorization header is not a valid Bearer token'),
      );
    }
    if (token !== quick) {
      seen = this.lookup(token);
      if (seen.claims) return this.authorize(service, seen.claims);
    }
    this.cacheMisses++;
    return this.checkInFull(service, token, seen!.hash);
  }

  /** The token's cache key, and its claims when it was already accepted. */
  private lookup(token: string): { hash: string; claims?: AccessTokenClaims } {
    const hash = tokenHash(token);
    const claims = this.deps.cache.get(hash);
    if (claims) this.cacheHits++;
    return { hash, claims };
  }

  /**
   * Signature and claims; synchronous when the signing key is known. Whatever storage says is
   * remembered only if no revocation arrived since `epoch` (revocation-replica.ts).
   */
  private checkInFull(service: ServiceConfig, token: string, hash: string): Decision | Promise<Decision> {
    const epoch = this.deps.replica.epoch;
    let verified: AccessTokenClaims | Promise<AccessTokenClaims>;
    try {
      verified = this.deps.verifier.verify(token);
    } catch (err) {
      return this.rejected(service, err);
    }
    if (verified instanceof Promise) {
      return verified.then(
        (claims) => this.checkRevocation(service, claims, hash, epoch),
        (err: unknown) => this.rejected(service, err),
      );
    }
    return this.checkRevocation(service, verified, hash, epoch);
  }

  /** The replica answers when it can (no storage round trip); storage otherwise. */
  private checkRevocation(
    service: ServiceConfig,
    claims: AccessTokenClaims,
    hash: string,
    epoch: number,
  ): Decision | Promise<Decision> {
    const local = this.deps.replica.check(claims);
    if (local === 'active') return this.accept(service, claims, hash, epoch);
    if (local === 'revoked') {
      return this.refuse(service, 'revoked', new InvalidTokenError('the access token was revoked'), claims);
    }
    return this.deps.verifier.revocation(claims).then((revoked) => {
      if (revoked) return this.refuse(service, revoked.reason, revoked, claims);
      this.deps.replica.grantExists(claims, epoch);
      return this.accept(service, claims, hash, epoch);
    });
  }

  private accept(
    service: ServiceConfig,
    claims: AccessTokenClaims,
    hash: string,
    epoch: number,
  ): Decision | Promise<Decision> {
    if (epoch === this.deps.replica.epoch) this.deps.cache.set(hash, claims);
    return this.authorize(service, claims);
  }

  /** A TokenRejected is a refusal; anything else (storage down, a bug) is thrown on. */
  private rejected(service: ServiceConfig, err: unknown): Decision {
    if (!(err instanceof TokenRejected)) throw err;
    return this.refuse(service, err.reason, err);
  }

  /**
   * What a valid token may do at this service, now: its audience, its user's admission (to the
   * gateway and to this service: synchronous when admission knows the person), its scope; and at a
   * remote server, with its own token.
   */
  private authorize(service: ServiceConfig, claims: AccessTokenClaims): Decision | Promise<Decision> {
    // RFC 8707 / RFC 9068 §4: a token is for exactly one service.
    if (claims.aud !== service.resource) {
      return this.refuse(
        service,
        'wrong_audience',
        new InvalidTokenError('the access token is for another service'),
        claims,
      );
    }
    // Admission is decided now, not only at login: a user removed from the rules is out.
    const verdict = userAdmitted(claims, this.deps.identities, service.name);
    if (verdict instanceof Promise) return verdict.then((v) => this.admitted(service, claims, v));
    return this.admitted(service, claims, verdict);
  }

  private admitted(service: ServiceConfig, claims: AccessTokenClaims, verdict: Verdict): Decision | Promise<Decision> {
    if (!verdict.ok) return this.notAdmitted(service, claims, verdict);
    const decision = this.authorizeHere(service, claims);
    if (decision.status !== 200 || !service.remote?.auth) return decision;
    return this.withUpstream(service, claims);
  }

  /**
   * Not admitted to the gateway: 401 invalid_token (design: "its user no longer allowed"). Admitted,
   * but not to this service: 403 access_denied, without a challenge (no token would do better).
   * Admission unknown (a membership lookup failed): 503, fail closed, the grant kept.
   */
  private notAdmitted(service: ServiceConfig, claims: AccessTokenClaims, verdict: Exclude<Verdict, { ok: true }>) {
    if (verdict.unavailable) {
      return this.refusal(
        'admission_unavailable',
        new TemporarilyUnavailableError(
          `whether the user may use ${service.name} cannot be checked now; try again shortly`,
        ),
        service,
        claims,
      );
    }
    if (verdict.service) {
      return this.refusal(
        'service_not_allowed',
        new AccessDeniedError(`the user may not use ${service.name}: ${verdict.missing}`),
        service,
        claims,
      );
    }
    return this.refuse(service, 'user_not_allowed', new InvalidTokenError('the user is no longer allowed'), claims);
  }

  /**
   * The upstream's own token for this user (or the service's machine token). Without one the
   * client gets 401 invalid_token and a fresh challenge, so that its re-authorization repeats the
   * upstream step; an upstream authorization server that cannot be reached is a 503, and the
   * user's grants are kept.
   */
  private async withUpstream(service: ServiceConfig, claims: AccessTokenClaims): Promise<Decision> {
    const upstreams = this.deps.upstreams;
    if (!upstreams)
      return this.refusal(
        'upstream_unavailable',
        new TemporarilyUnavailableError(`${service.name}: no upstream authorization`),
        service,
        claims,
      );
    try {
      const authorization = await upstreams.authorization(service.name, claims.sub);
      const groups = this.deps.identities.admission.groupsHeader(claims.sub);
      return {
        status: 200,
        headers: upstreamHeaders(claims, service, authorization, groups),
        reason: 'ok',
        service,
        claims,
      };
    } catch (err) {
      if ((err as { reason?: string }).reason === 'needs_authorization') {
        return this.refuse(
          service,
          'upstream_authorization_missing',
          new InvalidTokenError(`authorize ${service.name} again: its own authorization is missing or has ended`),
          claims,
        );
      }
      if ((err as { reason?: string }).reason === 'unavailable') {
        return this.refusal(
          'upstream_unavailable',
          new TemporarilyUnavailableError(
            `${service.name}: the upstream authorization server cannot be reached; try again shortly`,
          ),
          service,
          claims,
        );
      }
      throw err;
    }
  }

  /** The scope, then the identity headers. */
  private authorizeHere(service: ServiceConfig, claims: AccessTokenClaims): Decision {
    const granted = ` ${claims.scope ?? ''} `;
    const missing = service.scopes.filter((s) => !granted.includes(` ${s} `));
    if (missing.length) {
      // MCP authorization, scope challenge: 403 insufficient_scope with the scopes needed.
      return this.refuse(
        service,
        'insufficient_scope',
        new InsufficientScopeError(`the access token lacks the scope ${missing.join(' ')}`),
        claims,
      );
    }
    const headers =
      service.remote?.identityHeaders === false
        ? withoutIdentity(service)
        : identityHeaders(claims, service, this.deps.identities.admission.groupsHeader(claims.sub));
    return { status: 200, headers, reason: 'ok', service, claims };
  }

  /** Logs a refusal once, at info, with its reason: an operator can tell "never sent" from "refused". */
  log(decision: Decision, req: VerifyRequest): void {
    const key = decision.status === 200 ? OK_KEY : `${decision.status} ${decision.reason}`;
    this.tally.set(key, (this.tally.get(key) ?? 0) + 1);
    if (decision.status === 200) return;
    this.deps.logger.info(
      {
        status: decision.status,
        reason: decision.reason,
        service: decision.service?.name,
        method: req.method,
        client: decision.claims?.client_id,
        user: decision.claims?.sub,
      },
      'verify refused',
    );
  }
}
