/**
 * Every storage key the gateway reads or writes, built in one place (docs/storage.md, "Keys"):
 * the writers, the readers, and the SCAN patterns (revocation replica, admin CLI) all use these.
 * Keys are shown without REDIS_KEY_PREFIX, which the Redis store adds to each.
 */

// oidc-provider's models (oidc/adapter.ts)
export const modelKey = (model: string, id: string): string => `oidc:${model}:${id}`;
/** A grant's record: its existence is what makes the grant's access tokens active. */
export const grantKey = (grantId: string): string => modelKey('Grant', grantId);
/** The keys of every code and token issued under a grant (revokeByGrantId). */
export const grantIndexKey = (grantId: string): string => `oidc:grant:${grantId}`;
/** The grant ids of a client (to end them all when the client is deleted or revoked). */
export const clientGrantsKey = (clientId: string): string => `oidc:client-grants:${clientId}`;
/** When a code or refresh token was used (replay detection). */
export const consumedKey = (key: string): string => `${key}:consumed`;
export const sessionUidKey = (uid: string): string => `oidc:uid:${uid}`;
export const userCodeKey = (userCode: string): string => `oidc:user_code:${userCode}`;

// Access tokens revoked on their own (RFC 7009): SCAN matches the prefix.
export const REVOKED_TOKEN_PREFIX = 'revoked:at:';
export const revokedTokenKey = (jti: string): string => `${REVOKED_TOKEN_PREFIX}${jti}`;

// Users and their decisions
export const accountKey = (id: string): string => `account:${id}`;
/** A GitHub user's own token, sealed, kept only to look memberships up again (identity/admission.ts). */
export const identityTokenKey = (id: string): string => `identity:token:${id}`;
/** A user's GitHub organisations and teams as last looked up, for MEMBERSHIP_CACHE_TTL. */
export const membershipsKey = (id: string): string => `identity:memberships:${id}`;
export const CONSENT_PREFIX = 'consent:';
export const consentKey = (accountId: string, clientId: string): string => `${CONSENT_PREFIX}${accountId}:${clientId}`;

// Logins in flight at an upstream identity provider (interactions/login.ts)
export const upstreamStateKey = (state: string): string => `upstream:state:${state}`;
export const upstreamResultKey = (id: string): string => `upstream:result:${id}`;

// Tokens held for users at upstream MCP servers (upstream/token-vault.ts), sealed
export const UPSTREAM_TOKEN_PREFIX = 'upstream:token:';
export const upstreamTokenKey = (service: string, userId: string): string =>
  `${UPSTREAM_TOKEN_PREFIX}${service}:${userId}`;

/** Whose an upstream access token is, by its HMAC under the sealing key: an edge's upstream 401 (upstream/edge-answers.ts). */
export const upstreamIssuedKey = (mac: string): string => `upstream:issued:${mac}`;
/** A user's authorization at an upstream in flight, by its state (upstream/user-tokens.ts). */
export const upstreamAuthorizationKey = (state: string): string => `upstream:authorization:${state}`;
/** A consent decided and waiting for the upstream step of the two-screen flow (interactions/upstream.ts). */
export const upstreamConsentKey = (uid: string): string => `upstream:consent:${uid}`;
/** The gateway's registration at an upstream authorization server (upstream/registration.ts), sealed. */
export const upstreamClientKey = (service: string, issuer: string): string => `upstream:client:${service}:${issuer}`;

// The refresh token reuse grace window (oidc/refresh-replay.ts), by SHA-256 of the rotated token
export const refreshAnswerKey = (hash: string): string => `refresh:answer:${hash}`;
export const refreshLockKey = (hash: string): string => `refresh:lock:${hash}`;

// Registrations counted per address and hour (oidc/registration-limit.ts)
export const registrationCountKey = (address: string, hour: number): string => `limit:register:${address}:${hour}`;

// Keys
export const SIGNING_KEYS_KEY = 'keys:signing';
export const COOKIE_SECRETS_KEY = 'keys:cookies';
/** The generated key that seals upstream tokens when UPSTREAM_TOKEN_KEY is unset. */
export const UPSTREAM_TOKEN_KEY_KEY = 'keys:upstream-tokens';
