/**
 * The authorization server: oidc-provider configured for MCP clients. Every protocol decision is
 * made here, with the specification it follows named on its line.
 */
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/load.ts';
import type { Identities } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { RevocationFeed } from '../storage/revocation-feed.ts';
import type { Store } from '../storage/store.ts';
import { renderError } from '../pages/error.ts';
import { isStorageOutage } from '../storage/outage.ts';
import { PAGE_HEADERS } from '../pages/layout.ts';
import type { Accounts } from './accounts.ts';
import { clientMayActOn } from './active.ts';
import { createAdapterClass, type GrantEnded } from './adapter.ts';
import { applyClientPolicy, EXTRA_CLIENT_METADATA } from './client-policy.ts';
import type { StoredKey } from './keys.ts';
import type { ServiceRegistry } from './services.ts';
import { isPrivateMetadataHost } from './private-hosts.ts';

export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/**
 * Cookie names. Over https: `__Host-` (Secure, Path=/, no Domain: RFC 6265bis §4.1.3.2) for the
 * session; the interaction cookies are scoped to /interaction/<uid>, which `__Host-` forbids,
 * so they take `__Secure-`. The embedded default on http://localhost cannot set Secure cookies
 * (the connection is not TLS), so there they go without the prefixes.
 */
export function cookieNames(secure: boolean) {
  return secure
    ? { session: '__Host-mcpgw.session', interaction: '__Secure-mcpgw.interaction', resume: '__Secure-mcpgw.resume' }
    : { session: 'mcpgw.session', interaction: 'mcpgw.interaction', resume: 'mcpgw.resume' };
}

export interface ProviderDeps {
  config: Config;
  store: Store;
  /** Where the adapter announces ended grants (storage/revocation-feed.ts). */
  feed: RevocationFeed;
  registry: ServiceRegistry;
  identities: Identities;
  accounts: Accounts;
  keys: StoredKey[];
  cookieSecrets: string[];
  logger: Logger;
  /** Outgoing fetch (Client ID Metadata Documents); tests may pass one that trusts a test CA. */
  fetch?: typeof fetch;
  /** A grant ended (revoked): its user's authorizations at remote servers end with it (adapter.ts). */
  grantEnded?: GrantEnded;
}

/**
 * The provider's endpoints, with the methods each answers (oidc-provider's router): a request with
 * another method gets 405 and Allow (RFC 9110 §15.5.6) from unrouted.ts rather than the bare 404.
 */
export const PROVIDER_ROUTES = {
  authorization: { path: '/authorize', methods: ['GET'] },
  token: { path: '/token', methods: ['POST'] },
  registration: { path: '/register', methods: ['POST'] },
  revocation: { path: '/revoke', methods: ['POST'] },
  introspection: { path: '/introspect', methods: ['POST'] },
  jwks: { path: '/jwks', methods: ['GET'] },
  userinfo: { path: '/userinfo', methods: ['GET', 'POST'] },
} as const;

export function createProvider(deps: ProviderDeps): Provider {
  const { config, store, registry, identities, accounts, logger } = deps;
  const knownScopes = [...OIDC_SCOPES, ...registry.scopes];
  const secure = config.publicUrl.startsWith('https:');

  const configuration: Configuration = {
    adapter: createAdapterClass(store, {
      clientLifetime: config.clientLifetime,
      feed: deps.feed,
      ...(deps.grantEnded ? { grantEnded: deps.grantEnded } : {}),
    }),
    jwks: { keys: deps.keys.map((k) => k.jwk) as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      names: cookieNames(secure),
      keys: deps.cookieSecrets,
      long: { httpOnly: true, sameSite: 'lax', secure, signed: true },
      short: { httpOnly: true, sameSite: 'lax', secure, signed: true },
    },
    routes: Object.fromEntries(Object.entries(PROVIDER_ROUTES).map(([name, route]) => [name, route.path])),
    scopes: knownScopes,
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
    responseTypes: ['code'],
    // OAuth 2.1 §7.5.2 / RFC 9700 §2.1.1: PKCE for every client, S256 only.
    pkce: { required: () => true },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // RFC 7591 §2: the default when a client omits it (VS Code does).
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    extraClientMetadata: {
      properties: EXTRA_CLIENT_METADATA,
      validator(ctx, key, _value, metadata) {
        // Once per client build: the policy looks at the whole metadata.
        if (key === EXTRA_CLIENT_METADATA[0]) {
          applyClientPolicy(metadata as Record<string, unknown>, ctx?.oidc?.route, {
            clientLifetime: config.clientLifetime,
          });
        }
      },
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    features: {
      devInteractions: { enabled: false },
      // Not offered: no MCP client uses PAR (RFC 9126), and every path the provider serves must be
      // in the edge's route table (edge/routes.ts). Off, discovery does not advertise it.
      pushedAuthorizationRequests: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: true },
      // RFC 7591 open registration; RFC 7592 management with registration access tokens.
      registration: { enabled: true, initialAccessToken: false },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      // RFC 7009 §2.1 / RFC 7662 §4: public clients act on their own tokens only.
      revocation: { enabled: true, allowedPolicy: (ctx, client, token) => clientMayActOn(client, token.clientId) },
      introspection: { enabled: true, allowedPolicy: (ctx, client, token) => clientMayActOn(client, token.clientId) },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        allowFetch(_ctx, clientId) {
          const host = new URL(clientId).hostname.toLowerCase();
          const { allowedHosts, allowPrivateHosts } = config.clientMetadata;
          if (!allowPrivateHosts && isPrivateMetadataHost(host)) return false;
          return allowedHosts === '*' || allowedHosts.has(host);
        },
      },
      resourceIndicators: {
        enabled: true,
        // RFC 8707 §2: without `resource`, the only service, or an error naming the choices.
        defaultResource(_ctx, _client, oneOf) {
          if (oneOf) return oneOf.length === 1 ? oneOf[0]! : oneOf;
          const only = registry.onlyService;
          if (only) return only.resource;
          const names = registry.services.map((s) => s.resource).join(', ');
          throw new errors.InvalidTarget(
            names
              ? `a resource parameter is required: this gateway serves several MCP services (${names})`
              : 'no MCP service is enabled on this gateway',
          );
        },
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resourceIndicator) {
          const service = registry.byResource(resourceIndicator);
          // RFC 8707 §2: unknown resource → invalid_target.
          if (!service) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          return {
            scope: service.scopes.join(' '),
            // The canonical identifier, whatever variation the client sent (clients.md).
            audience: service.resource,
            accessTokenTTL: config.accessTokenLifetime,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: config.accessTokenLifetime,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: config.sessionLifetime,
      Grant: config.refreshTokenLifetime,
      RefreshToken(ctx, token) {
        // Rotation keeps the absolute lifetime of the first refresh token (RFC 9700 §4.14.2).
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && !token.isSenderConstrained()) return rotated.remainingTTL;
        return config.refreshTokenLifetime;
      },
    },
    // Every MCP client gets a refresh token, offline_access or not (clients.md).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // OAuth 2.1 §4.3.1: rotate on every use; reuse of a rotated one revokes the grant.
    rotateRefreshToken: true,
    // Tokens outlive the browser session at the gateway.
    expiresWithSession: () => false,
    clientBasedCORS(_ctx, origin, client) {
      if (origin === 'null') return false;
      // Browser-based public clients may call us from the origin of one of their redirect URIs.
      return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
    },
    async findAccount(ctx, sub, token) {
      const account = await accounts.find(sub);
      if (!account) return undefined;
      // Admission is re-checked whenever a token is issued, refresh included (before the refresh
      // token rotates): to the gateway, and to every service the code or refresh token is for.
      const fromToken = (token as { resource?: string | string[] } | undefined)?.resource;
      // At the token endpoint only (a code or refresh token is given): an authorization asks about
      // services at its consent step, with a page (interactions/service-rules.ts).
      const resources = token
        ? [fromToken, ctx?.oidc?.params?.resource].flat().filter((r) => typeof r === 'string')
        : [];
      const services = [undefined, ...new Set(resources.map((r) => registry.byResource(r)?.name))];
      for (const service of services) {
        const verdict = await identities.admission.check(account, service);
        if (verdict.ok) continue;
        if (verdict.unavailable) {
          // RFC 6749 §4.1.2.1's temporarily_unavailable; the grant is kept for when it can be checked.
          throw Object.assign(new errors.TemporarilyUnavailable(verdict.missing), { status: 503, statusCode: 503 });
        }
        if (service === undefined) return undefined;
        throw new errors.InvalidGrant(`the user may no longer use ${service}: ${verdict.missing}`);
      }
      return {
        accountId: sub,
        claims: () => ({
          sub,
          name: account.name,
          preferred_username: account.login,
          email: account.email,
        }),
      };
    },
    async extraTokenClaims(_ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const account = await accounts.find(token.accountId);
      // RFC 9068 §2.2.1 identity claims, plus the grant id that keeps the token revocable.
      return {
        gid: token.grantId,
        idp: account?.provider,
        preferred_username: account?.login,
        name: account?.name,
        email: account?.email,
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async renderError(ctx, out, error) {
      // The refusal itself is logged by the provider's *.error events (app.ts).
      logger.info(
        { err: { name: (error as Error).name, message: (error as Error).message } },
        'authorization error page',
      );
      for (const [k, v] of Object.entries(PAGE_HEADERS)) ctx.set(k, String(v));
      if (isStorageOutage(error)) {
        ctx.status = 503;
        ctx.body = renderError({
          title: 'The gateway cannot sign anyone in right now',
          message: 'Its storage cannot be reached. Nothing is lost: try again in a minute.',
          detail: 'Error: temporarily_unavailable',
        });
        return;
      }
      ctx.status = (error as { status?: number }).status ?? 400;
      ctx.body = renderError({
        title: 'This sign-in cannot continue',
        message: out.error_description ?? 'The request was not valid.',
        detail: `Error: ${out.error}`,
      });
    },
  };
  if (deps.fetch) {
    const outgoing = deps.fetch;
    configuration.fetch = (url, options) => {
      if (config.clientMetadata.allowPrivateHosts) delete (options as { dispatcher?: unknown }).dispatcher;
      return outgoing(url, options);
    };
  } else if (config.clientMetadata.allowPrivateHosts) {
    configuration.fetch = (url, options) => {
      delete (options as { dispatcher?: unknown }).dispatcher;
      return fetch(url, options);
    };
  }

  const provider = new Provider(config.publicUrl, configuration);
  provider.proxy = config.trustProxy;
  return provider;
}

export type { KoaContextWithOIDC };
