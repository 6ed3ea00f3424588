/**
 * What makes an access token active: one definition, used by /verify (verify/decision.ts) and by
 * introspection (structured-tokens.ts), so that they cannot disagree (docs/storage.md, "What makes
 * an access token active"):
 *   1. its signature and claims verify (AccessTokenVerifier.verify: RFC 9068 §4);
 *   2. its grant exists and the token was not revoked on its own (AccessTokenVerifier.revocation,
 *      or /verify's replica of the same keys);
 *   3. its user is still admitted, to the gateway and to the token's service: a token names its
 *      identity provider and login, and the rules admit them now, not only at login.
 * And who may ask about a token or revoke it (RFC 7662 §4, RFC 7009 §2.1).
 */
import type { Identities } from '../identity/index.ts';
import type { AccessTokenClaims } from './access-tokens.ts';
import type { Verdict } from '../identity/rules.ts';

/**
 * 3: the user is admitted now, to the gateway and to the token's service (identity/admission.ts).
 * A token without an identity provider or login never is. Synchronous when admission knows the
 * person already.
 */
export function userAdmitted(claims: AccessTokenClaims, identities: Identities, service?: string) {
  if (!claims.idp || !claims.preferred_username) return NOT_ADMITTED;
  return identities.admission.check(
    { id: claims.sub, provider: claims.idp, login: claims.preferred_username },
    service,
  );
}

const NOT_ADMITTED: Verdict = { ok: false, missing: 'The token names no identity provider or login.' };

/**
 * RFC 7662 §4 / RFC 7009 §2.1: a public client (no client authentication) may introspect or revoke
 * only the tokens issued to it; an authenticated (confidential) client may introspect any.
 */
export function clientMayActOn(
  client: { clientId: string; clientAuthMethod?: string },
  tokenClientId: string | undefined,
): boolean {
  return tokenClientId === client.clientId || client.clientAuthMethod !== 'none';
}
