/**
 * Requests to oidc-provider's endpoints pass here first, so that what real MCP clients send
 * (clients.md) reaches the provider in the shape the specifications describe:
 *   - scopes: whitespace collapsed, unknown ones dropped, the service's scopes added when none
 *     of them were asked for ("unknown or missing scopes narrow to what is supported");
 *   - resource: canonical form of a known service's identifier (trailing slash, case).
 * (Client metadata gets its policy in oidc/client-policy.ts.)
 * Bodies are read once (bounded), rewritten, and replayed to the provider as a fresh stream:
 * oidc-provider parses bodies itself and must not find them pre-parsed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { Readable } from 'node:stream';
import type { ServiceRegistry } from '../oidc/services.ts';
import { ContentTooLargeError } from '../errors.ts';

/** oidc-provider's own body limit. */
export const BODY_LIMIT = 56 * 1024;

export interface NormalizeContext {
  registry: ServiceRegistry;
  /** Every scope the authorization server knows (openid, offline_access, profile, email, services'). */
  knownScopes: ReadonlySet<string>;
}

export const tooLarge = () => new ContentTooLargeError('request body too large');

/** Reads a request body up to `limit` bytes; throws a 413 GatewayError beyond it. */
export async function readBody(req: IncomingMessage, limit = BODY_LIMIT): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A request that carries `body` instead of what was on the wire, for a handler that reads streams. */
export function replayRequest(req: IncomingMessage, body: Buffer): IncomingMessage {
  const headers = { ...req.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  const stream = Readable.from([body]);
  return Object.assign(stream, {
    headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
    aborted: false,
  }) as unknown as IncomingMessage;
}

function splitScopes(scope: string | null | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter(Boolean);
}

/**
 * The scope value a request should carry: known scopes only, and the scopes of the service it is
 * for when none of them was asked for (Codex omits the scope; claude.ai sends `claudeai`).
 */
export function normalizeScope(
  scope: string | null | undefined,
  service: { scopes: string[] } | undefined,
  ctx: Pick<NormalizeContext, 'knownScopes'>,
): string | undefined {
  const requested = [...new Set(splitScopes(scope))].filter((s) => ctx.knownScopes.has(s));
  if (service && !requested.some((s) => service.scopes.includes(s))) requested.push(...service.scopes);
  return requested.length ? requested.join(' ') : undefined;
}

/** Rewrites the OAuth parameters of /authorize (query) and /token (form) in place. */
export function normalizeOAuthParams(params: URLSearchParams, ctx: NormalizeContext, endpoint: 'authorize' | 'token') {
  const resources = params.getAll('resource');
  if (resources.length) {
    params.delete('resource');
    for (const r of resources) params.append('resource', ctx.registry.byResource(r)?.resource ?? r);
  }
  const service =
    resources.length === 1
      ? ctx.registry.byResource(resources[0] ?? '')
      : resources.length === 0
        ? ctx.registry.onlyService
        : undefined;
  const grantType = params.get('grant_type');
  // RFC 6749 §6: a refresh request may narrow its scope; omitted means "as granted".
  if (endpoint === 'token' && (grantType !== 'refresh_token' || !params.has('scope'))) return;
  const scope = normalizeScope(params.get('scope'), service, ctx);
  if (endpoint === 'token' && grantType === 'refresh_token') {
    // offline_access is not a resource scope and never needed for a refresh token here.
    const narrowed = splitScopes(scope).filter((s) => s !== 'offline_access');
    if (narrowed.length) params.set('scope', narrowed.join(' '));
    else params.delete('scope');
    return;
  }
  if (scope) params.set('scope', scope);
  else params.delete('scope');
}

export type ProviderHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Express handlers that shape an OAuth request, then hand it to the provider. */
export function oauthRequestShaping(
  ctx: NormalizeContext,
  toProvider: ProviderHandler,
  /** A token request's last check before the provider: an error refuses it (app.ts). */
  beforeToken?: (params: URLSearchParams) => Promise<Error | undefined>,
  /** Around the provider for token requests: may answer itself (oidc/refresh-replay.ts). */
  aroundToken?: (
    params: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
    forward: () => Promise<void>,
  ) => Promise<void>,
) {
  return {
    /** GET: the query string is rewritten in place. */
    query(endpoint: 'authorize') {
      return (req: Request, res: Response) => {
        const url = new URL(req.originalUrl, 'http://gateway');
        normalizeOAuthParams(url.searchParams, ctx, endpoint);
        req.url = `${url.pathname}?${url.searchParams.toString()}`;
        return toProvider(req, res);
      };
    },
    /** POST form: the body is read (bounded), rewritten and replayed. */
    form(endpoint: 'authorize' | 'token') {
      return async (req: Request, res: Response, next: NextFunction) => {
        try {
          let body = await readBody(req);
          let params: URLSearchParams | undefined;
          if (req.is('application/x-www-form-urlencoded')) {
            params = new URLSearchParams(body.toString('utf8'));
            normalizeOAuthParams(params, ctx, endpoint);
            if (endpoint === 'token' && beforeToken) {
              const refusal = await beforeToken(params);
              if (refusal) throw refusal;
            }
            body = Buffer.from(params.toString());
          }
          const forward = async () => void (await toProvider(replayRequest(req, body), res));
          if (endpoint === 'token' && params && aroundToken) await aroundToken(params, req, res, forward);
          else await forward();
        } catch (err) {
          next(err);
        }
      };
    },
  };
}
