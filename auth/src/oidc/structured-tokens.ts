/**
 * RFC 7662 introspection and RFC 7009 revocation of our JWT access tokens. oidc-provider
 * authenticates the client and validates the request, then refuses structured tokens with
 * `unsupported_token_type`; this middleware takes over exactly there, for an authenticated
 * client and a token that is ours, and answers as the RFCs say.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AccessTokenVerifier, AccessTokenClaims } from './access-tokens.ts';
import { TokenRejected } from './access-tokens.ts';
import { clientMayActOn, userAdmitted } from './active.ts';
import type { Identities } from '../identity/index.ts';

type Next = () => Promise<unknown>;

function isOurRefusal(ctx: KoaContextWithOIDC): boolean {
  const route = ctx.oidc?.route;
  if (route !== 'introspection' && route !== 'revocation') return false;
  const body = ctx.body as { error?: string } | undefined;
  return ctx.status === 400 && body?.error === 'unsupported_token_type' && ctx.oidc.client !== undefined;
}

export function structuredTokens(
  verifier: AccessTokenVerifier,
  identities: Identities,
  serviceOf: (audience: string) => string | undefined,
) {
  async function activeClaims(token: string): Promise<AccessTokenClaims | undefined> {
    try {
      const claims = await verifier.verify(token);
      if (await verifier.revocation(claims)) return undefined;
      return (await userAdmitted(claims, identities, serviceOf(claims.aud))).ok ? claims : undefined;
    } catch (err) {
      if (err instanceof TokenRejected) return undefined;
      throw err;
    }
  }

  return async function structuredTokenEndpoints(ctx: KoaContextWithOIDC, next: Next) {
    await next();
    if (!isOurRefusal(ctx)) return;
    const client = ctx.oidc.client!;
    const token = String(ctx.oidc.params?.token ?? '');
    const claims = await activeClaims(token);
    const mayAct = claims !== undefined && clientMayActOn(client, claims.client_id);

    if (ctx.oidc.route === 'revocation') {
      // RFC 7009 §2.1: the token must have been issued to the client asking.
      if (claims && claims.client_id === client.clientId) await verifier.revoke(claims);
      // RFC 7009 §2.2: 200 whether or not there was anything to revoke.
      ctx.status = 200;
      ctx.body = '';
      return;
    }

    ctx.status = 200;
    ctx.set('cache-control', 'no-store');
    // RFC 7662 §2.2
    ctx.body =
      claims && mayAct
        ? {
            active: true,
            token_type: 'Bearer',
            client_id: claims.client_id,
            sub: claims.sub,
            username: claims.preferred_username,
            aud: claims.aud,
            iss: claims.iss,
            scope: claims.scope,
            exp: claims.exp,
            iat: claims.iat,
            jti: claims.jti,
          }
        : { active: false };
  };
}
