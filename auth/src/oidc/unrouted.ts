/**
 * What the provider's router does not answer: Koa leaves a bare `404 Not Found` in text/plain. An
 * endpoint asked with a method it does not serve gets 405 with Allow (RFC 9110 §15.5.6), anything
 * else a 404; both in the JSON error shape of every other answer (RFC 6749 §5.2), so that a client
 * or a person with curl reads what went wrong.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { MethodNotAllowedError, NotFoundError, toWire, type GatewayError } from '../errors.ts';
import { PROVIDER_ROUTES } from './provider.ts';

/** Path → the methods served there: the provider's endpoints and its two discovery documents. */
const METHODS = new Map<string, readonly string[]>([
  ...Object.values(PROVIDER_ROUTES).map((r) => [r.path, r.methods] as const),
  ['/.well-known/oauth-authorization-server', ['GET']],
  ['/.well-known/openid-configuration', ['GET']],
]);

export function unroutedAnswer(method: string, path: string): GatewayError | undefined {
  if (method === 'OPTIONS') return undefined; // CORS preflights are the provider's own (its cors option)
  const allowed = METHODS.get(path);
  if (allowed && !allowed.includes(method) && !(method === 'HEAD' && allowed.includes('GET'))) {
    return new MethodNotAllowedError(allowed.join(', '));
  }
  return new NotFoundError(allowed ? 'no such resource' : `nothing is served at ${path}`);
}

export async function unrouted(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  if (ctx.status !== 404 || ctx.body != null) return;
  const error = unroutedAnswer(ctx.method, ctx.path);
  if (!error) return;
  const wire = toWire(error);
  ctx.status = wire.status;
  ctx.set(wire.headers);
  ctx.set('cache-control', 'no-store');
  ctx.body = wire.body;
}
