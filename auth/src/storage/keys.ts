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

// ---- On a Redis Cluster (REDIS_CLUSTER_NODES; docs/storage.md, "Redis Cluster")
//
// A cluster spreads the keys over 16384 hash slots, and a command that names several keys (MGET,
// DEL, a script) runs atomically only on keys of one slot. Keys that are read or deleted together
// therefore carry the same hash tag, the part between `{` and `}` that alone decides the slot
// (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags): every
// `oidc:<kind>:<id>` key is stored as `oidc:<kind>:{<id>}`. So a code or token and its
// `:consumed` mark share a slot (one MGET reads both, one DEL removes both), and a grant's record
// `oidc:Grant:{<gid>}` shares one with its index `oidc:grant:{<gid>}`. Every other key keeps its
// name, and its own slot: the keys spread over every master. A grant's tokens are in the slots of
// their own ids, since oidc-provider looks a token up by its id alone.
//
// Only the cluster store stores keys this way; on a single Redis (REDIS_URL, REDIS_SENTINELS) the
// keys keep the names above, so an existing deployment's data reads as before.

/** `oidc:<kind>:` and the id, less a trailing `:consumed`. */
const OIDC_KEY = /^(oidc:[^:{}]+:)(.*?)(:consumed)?$/s;
const TAGGED_OIDC_KEY = /^(oidc:[^:{}]+:)\{(.*)\}(:consumed)?$/s;

/** The name a key is stored under on a Redis Cluster (without REDIS_KEY_PREFIX). */
export function clusterKey(key: string): string {
  const m = OIDC_KEY.exec(key);
  return m ? `${m[1]}{${m[2]}}${m[3] ?? ''}` : key;
}

/** The key stored on a Redis Cluster under `stored` (the inverse of clusterKey). */
export function keyOfClusterKey(stored: string): string {
  const m = TAGGED_OIDC_KEY.exec(stored);
  return m ? `${m[1]}${m[2]}${m[3] ?? ''}` : stored;
}

/**
 * What every key stored on a cluster for a key starting with `prefix` starts with: the beginning of
 * a SCAN pattern; what it finds is then mapped back (keyOfClusterKey) and checked against `prefix`.
 */
export function clusterKeyPrefix(prefix: string): string {
  const kind = /^oidc:[^:{}]+:/.exec(prefix);
  return kind ? `${kind[0]}{` : prefix;
}
