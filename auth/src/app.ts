/**
 * The auth service, composed. Express 5 in front, oidc-provider behind:
 *   /health                                   health
 *   /.well-known/oauth-protected-resource/…   RFC 9728 metadata per service
 *   /interaction/…, /callback/:idp            login and consent pages
 *   /authorize, /token, /register[/:id]       normalised (http/normalize.ts), then the provider
 *   everything else                           oidc-provider (metadata, jwks, revoke, introspect…)
 * No body parser runs in front of the provider: oidc-provider reads request bodies itself, and a
 * parser before it would consume them (its README, "Mounting oidc-provider").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { isLoopbackHost } from '../../contracts/loopback.ts';
import type { Config } from './config/load.ts';
import { InvalidGrantError, toWire } from './errors.ts';
import { healthHandler } from './http/health.ts';
import { Counters, isMetricsPath, metricsHandler } from './http/metrics.ts';
import { protectedResourceMetadataHandler } from './http/metadata.ts';
import { BODY_LIMIT, oauthRequestShaping, tooLarge, type NormalizeContext } from './http/normalize.ts';
import { createIdentities, type Identities } from './identity/index.ts';
import type { LocalUser } from './identity/local.ts';
import { interactionRoutes } from './interactions/routes.ts';
import type { Logger } from './log.ts';
import { AccessTokenVerifier } from './oidc/access-tokens.ts';
import { Accounts } from './oidc/accounts.ts';
import { RefreshReplay } from './oidc/refresh-replay.ts';
import { registrationLimit } from './oidc/registration-limit.ts';
import { isStorageOutage, STORAGE_OUTAGE_DESCRIPTION } from './storage/outage.ts';
import { revokeClientGrants, type GrantEnded } from './oidc/adapter.ts';
import { Consents } from './oidc/consents.ts';
import { loadCookieSecrets, loadSigningKeys, type StoredKey } from './oidc/keys.ts';
import { createProvider, OIDC_SCOPES } from './oidc/provider.ts';
import { ServiceRegistry } from './oidc/services.ts';
import { structuredTokens } from './oidc/structured-tokens.ts';
import { unrouted } from './oidc/unrouted.ts';
import { renderError } from './pages/error.ts';
import { PAGE_HEADERS } from './pages/layout.ts';
import { RevocationFeed } from './storage/revocation-feed.ts';
import type { Store } from './storage/store.ts';
import { VerifyDecider } from './verify/decision.ts';
import { isVerifyPath, verifyHandler } from './verify/handler.ts';
import { followRevocations } from './verify/revocation-feed.ts';
import { RevocationReplica } from './verify/revocation-replica.ts';
import { TokenCache } from './verify/token-cache.ts';
import { clientMetadataDocument } from './upstream/registration.ts';
import { loadUpstreamKey } from './upstream/token-vault.ts';
import { upstreamMetrics } from './upstream/metrics.ts';
import { limitLogOf } from '../../contracts/limit-log.ts';
import { EDGE_ANSWER_PREFIX, upstreamEdgeAnswers } from './upstream/edge-answers.ts';
import { CLIENT_DOCUMENT_PREFIX, hasUpstreamAuth, UPSTREAM_CALLBACK_PATH, Upstreams } from './upstream/upstreams.ts';

export interface AuthServiceOptions {
  config: Config;
  store: Store;
  logger: Logger;
  /** Tests: a fixed local user; outgoing fetch for Client ID Metadata Documents. */
  localUser?: LocalUser;
  fetch?: typeof fetch;
  /** Tests: the gateway's requests to remote MCP servers and their authorization servers. */
  upstreamFetch?: typeof fetch;
  /** Tests: the OpenID Connect provider's discovery retry and JWKS refetch timings. */
  oidcTimings?: { retryMs?: number; jwksCooldownMs?: number };
}

export interface AuthService {
  /** Everything the auth service serves: /verify first (no router), then the Express app. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  app: express.Express;
  decider: VerifyDecider;
  /** Stops following revocations. */
  close(): Promise<void>;
  provider: Provider;
  registry: ServiceRegistry;
  identities: Identities;
  verifier: AccessTokenVerifier;
  keys: StoredKey[];
  /** Remote MCP servers with an authorization of their own; undefined when none is configured. */
  upstreams: Upstreams | undefined;
}

const PROVIDER_EVENTS_LOGGED = [
  'authorization.error',
  'grant.error',
  'registration_create.error',
  'registration_update.error',
];

/** Provider requests that failed for want of storage: answered 503 (storageOutages below). */
const outages = new WeakSet<object>();

function logProviderEvents(provider: Provider, logger: Logger) {
  provider.on('server_error', (ctx, err) => {
    // Storage unreachable is said once by the store; the request is answered 503 (storageOutages).
    if (isStorageOutage(err)) outages.add(ctx);
    else logger.error({ err }, 'authorization server error');
  });
  for (const event of PROVIDER_EVENTS_LOGGED) {
    provider.on(
      event as 'authorization.error',
      (_ctx: unknown, err: Error & { error?: string; error_description?: string }) =>
        logger.info({ event, error: err.error ?? err.name, description: err.error_description }, 'request refused'),
    );
  }
  provider.on('grant.revoked', (_ctx, grantId) => logger.info({ grantId }, 'grant revoked'));
}

export async function createAuthService(options: AuthServiceOptions): Promise<AuthService> {
  const { config, store, logger } = options;
  const registry = new ServiceRegistry(config.services);
  const accounts = new Accounts(store, config.refreshTokenLifetime);
  // Seals what the gateway holds for people: upstream tokens, and GitHub tokens kept to read memberships.
  const sealingKey = await loadUpstreamKey(store, config.upstreamTokenKey);
  const identities = createIdentities(config, {
    accounts,
    store,
    logger,
    sealingKey,
    ...(options.localUser ? { local: options.localUser } : {}),
    ...(options.oidcTimings ? { oidc: options.oidcTimings } : {}),
  });
  // Discovery of an OpenID Connect provider: in the background, retried until it answers.
  void identities.start();
  const consents = new Consents(store, config.refreshTokenLifetime);
  const keys = await loadSigningKeys(store, {
    signingKeyPem: config.signingKeyPem,
    accessTokenLifetime: config.accessTokenLifetime,
  });
  const cookieSecrets = await loadCookieSecrets(store, config.cookieSecrets);
  // Remote MCP servers with an authorization of their own: the gateway is their OAuth client.
  const upstreams = config.services.some(hasUpstreamAuth)
    ? new Upstreams(config.services, {
        store,
        publicUrl: config.publicUrl,
        sealingKey,
        logger,
        ...(options.upstreamFetch ? { fetch: options.upstreamFetch } : {}),
      })
    : undefined;
  const grantEnded: GrantEnded | undefined = upstreams
    ? async (grant) => {
        for (const service of await upstreams.grantEnded(grant, (r) => registry.byResource(r)?.name)) {
          logger.info({ user: grant.accountId, service }, 'upstream authorization revoked with the grant');
        }
      }
    : undefined;
  // One revocation feed for the process: the adapter and the verifier announce, /verify follows.
  const feed = new RevocationFeed(store);
  const provider = createProvider({
    config,
    store,
    feed,
    registry,
    identities,
    accounts,
    keys,
    cookieSecrets,
    logger,
    fetch: options.fetch,
    ...(grantEnded ? { grantEnded } : {}),
  });
  const verifier = new AccessTokenVerifier({ issuer: config.publicUrl, store, feed, keys });
  provider.use(unrouted);
  // The provider answers every failure 500 server_error; one for want of storage is a 503
  // temporarily_unavailable (RFC 6749 §4.1.2.1, §5.2 by analogy): the client may simply retry.
  provider.use(async function storageOutages(ctx, next) {
    await next();
    if (!outages.has(ctx)) return;
    ctx.status = 503;
    ctx.set('retry-after', '1');
    const body = ctx.body as { error?: unknown } | undefined;
    if (body && typeof body === 'object' && !Buffer.isBuffer(body) && body.error === 'server_error') {
      ctx.body = { error: 'temporarily_unavailable', error_description: STORAGE_OUTAGE_DESCRIPTION };
    }
  });
  provider.use(structuredTokens(verifier, identities, (aud) => registry.byResource(aud)?.name));
  provider.use(async function revokeDeletedClient(ctx, next) {
    await next();
    // RFC 7592 §2.3: a deleted client's grants, and every token in them, end with it.
    if (ctx.oidc?.route === 'client_delete' && ctx.status === 204 && ctx.oidc.client) {
      const grants = await revokeClientGrants(store, feed, ctx.oidc.client.clientId, grantEnded);
      logger.info({ client: ctx.oidc.client.clientId, grants }, 'client deleted');
    }
  });
  logProviderEvents(provider, logger);

  const normalize: NormalizeContext = {
    registry,
    knownScopes: new Set([...OIDC_SCOPES, ...registry.scopes]),
  };
  const toProvider = provider.callback();

  /**
   * A refresh whose grant covers a remote server the user no longer holds an authorization at
   * (refused or revoked there) is refused with invalid_grant before the provider sees it — the
   * refresh token is not consumed — so that the client authorizes again, repeating the upstream
   * step (design: "Remote MCP servers"), instead of getting a token /verify would refuse.
   */
  const upstreamGone = upstreams
    ? async (params: URLSearchParams): Promise<Error | undefined> => {
        if (params.get('grant_type') !== 'refresh_token') return undefined;
        const token = await provider.RefreshToken.find(params.get('refresh_token') ?? '').catch(() => undefined);
        const grant = token?.grantId ? await provider.Grant.find(token.grantId).catch(() => undefined) : undefined;
        if (!token || !grant) return undefined; // the provider answers it
        for (const resource of Object.keys(grant.resources ?? {})) {
          const service = upstreams.get(registry.byResource(resource)?.name ?? '');
          if (service?.mode === 'user' && !(await service.authorized(token.accountId))) {
            return new InvalidGrantError(`authorize ${service.name} again: its own authorization has ended`);
          }
        }
        return undefined;
      }
    : undefined;
  // Refresh tokens sent twice at once, or again after a lost answer: the same answer (REFRESH_TOKEN_REUSE_GRACE).
  const refreshReplay = new RefreshReplay({
    store,
    grace: config.refreshReuseGrace,
    sealingKey,
    provider,
    logger,
  });
  const shaped = oauthRequestShaping(normalize, toProvider, upstreamGone, (params, req, res, forward) =>
    refreshReplay.handle(params, req, res, forward),
  );

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  app.get('/health', healthHandler(store));
  const prm = protectedResourceMetadataHandler(config, registry);
  app.get('/.well-known/oauth-protected-resource', prm);
  app.get('/.well-known/oauth-protected-resource/:service/mcp', prm);
  // Path-suffixed authorization server metadata (RFC 8414 §3.1 form) for each service: the
  // same document as the root, since the issuer has no path.
  app.get(
    ['/.well-known/oauth-authorization-server/:service/mcp', '/.well-known/openid-configuration/:service/mcp'],
    (req, res, next) => {
      if (!registry.byName(String(req.params.service))) return next();
      req.url = req.path.startsWith('/.well-known/openid')
        ? '/.well-known/openid-configuration'
        : '/.well-known/oauth-authorization-server';
      return toProvider(req, res);
    },
  );
  // The gateway's Client ID Metadata Document at a remote server that takes them (upstream/registration.ts).
  app.get(`${CLIENT_DOCUMENT_PREFIX}:service`, (req, res, next) => {
    const service = upstreams?.get(String(req.params.service));
    if (!service || service.mode !== 'user' || service.remote.auth.client) return next();
    res
      .set('cache-control', 'public, max-age=300')
      .json(clientMetadataDocument(config.publicUrl, service.name, `${config.publicUrl}${UPSTREAM_CALLBACK_PATH}`));
  });
  app.use(
    interactionRoutes({
      provider,
      config,
      registry,
      identities,
      accounts,
      consents,
      store,
      logger,
      cookieSecrets,
      ...(upstreams ? { upstreams } : {}),
    }),
  );

  app.get('/authorize', shaped.query('authorize'));
  app.post('/authorize', shaped.form('authorize'));
  app.post('/token', shaped.form('token'));
  // RFC 7591 registration: at most REGISTRATION_LIMIT an hour from one address.
  const limited = registrationLimit(store, config.registrationLimit, logger);
  app.post('/register', (req, _res, next) => {
    limited(req).then(() => next(), next);
  });
  // Anything else with a declared body over the provider's limit: 413 before it is read.
  app.use((req, _res, next) => {
    const length = Number(req.headers['content-length']);
    next(Number.isFinite(length) && length > BODY_LIMIT ? tooLarge() : undefined);
  });
  app.use((req: Request, res: Response) => toProvider(req, res));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const wire = toWire(err, logger);
    if (wire.status === 413)
      limitLogOf(logger).hit('request body size', req.ip ?? '-', { maxBytes: BODY_LIMIT, path: req.path });
    if (res.headersSent) return void res.end();
    if (req.path.startsWith('/interaction/') || req.path.startsWith('/callback/')) {
      res
        .status(wire.status)
        .set(PAGE_HEADERS)
        .send(
          renderError({
            title: wire.status >= 500 ? 'Something went wrong' : 'This sign-in cannot continue',
            message:
              (err as { name?: string }).name === 'SessionNotFound'
                ? 'This sign-in page has expired or was opened in another browser. Start again from your application.'
                : (wire.body.error_description ?? 'The request was not valid.'),
          }),
        );
      return;
    }
    res.status(wire.status).set(wire.headers).set('cache-control', 'no-store').json(wire.body);
  });

  const cache = new TokenCache();
  const replica = new RevocationReplica({ store, logger, tokenLifetime: config.accessTokenLifetime });
  const unfollow = await followRevocations(feed, store, cache, replica, logger);
  const counters = new Counters();
  const decider = new VerifyDecider({
    publicHost: new URL(config.publicUrl).host,
    origins: {
      own: new URL(config.publicUrl).origin,
      allowed: config.allowedOrigins,
      loopback: isLoopbackHost(new URL(config.publicUrl).hostname),
    },
    counters,
    registry,
    verifier,
    identities,
    cache,
    replica,
    logger,
    ...(upstreams
      ? {
          upstreams: {
            authorization: (name: string, userId: string) => upstreams.get(name)!.authorization(userId),
          },
        }
      : {}),
  });
  if (upstreams) counters.collect(() => upstreamMetrics(upstreams));
  const verify = verifyHandler(decider, logger);
  const metrics = metricsHandler(counters, () => ({}));
  const edgeAnswers = upstreamEdgeAnswers(registry, upstreams);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (isVerifyPath(req.url)) return verify(req, res);
    if (req.url?.startsWith(EDGE_ANSWER_PREFIX)) {
      return void edgeAnswers(req, res).catch((err: unknown) => {
        const wire = toWire(err, logger);
        if (!res.headersSent)
          res.writeHead(wire.status, { 'content-type': 'application/json' }).end(JSON.stringify(wire.body));
      });
    }
    if (isMetricsPath(req.url)) return metrics(req, res);
    return app(req, res);
  };

  const close = async () => {
    identities.stop();
    await unfollow();
  };
  return { handler, app, decider, provider, registry, identities, verifier, keys, upstreams, close };
}
