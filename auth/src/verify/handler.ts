/**
 * GET /verify — Traefik ForwardAuth (design.md). A plain node:http handler, not an Express
 * route: every MCP message passes through here.
 * Traefik sends the original headers plus X-Forwarded-Method/-Proto/-Host/-Uri/-For, no body;
 * on 2xx it copies `authResponseHeaders` onto the forwarded request, otherwise it returns this
 * answer to the client unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { Decision, VerifyDecider, VerifyRequest } from './decision.ts';

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export function forwardAuthRequest(req: IncomingMessage): VerifyRequest {
  const h = req.headers;
  return {
    method: first(h['x-forwarded-method']) ?? 'GET',
    uri: first(h['x-forwarded-uri']) ?? '',
    host: first(h['x-forwarded-host']),
    authorization: h.authorization,
  };
}

export function writeDecision(res: ServerResponse, decision: Decision): void {
  if (!decision.body) {
    // No body: Node writes Content-Length: 0 itself; the (cached) header object is used as is.
    res.writeHead(decision.status, decision.headers).end();
    return;
  }
  const body = JSON.stringify(decision.body);
  res.writeHead(decision.status, { ...decision.headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function verifyHandler(decider: VerifyDecider, logger: Logger) {
  function answer(request: VerifyRequest, res: ServerResponse, decision: Decision): void {
    decider.log(decision, request);
    writeDecision(res, decision);
  }
  function fail(res: ServerResponse, err: unknown): void {
    // Storage unreachable or a bug: fail closed, with an OAuth-shaped answer.
    logger.error({ err }, 'verify failed');
    const body = JSON.stringify({
      error: 'temporarily_unavailable',
      error_description: 'authorization could not be checked',
    });
    res.writeHead(503, {
      'content-type': 'application/json',
      'retry-after': '1',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }
  return function verify(req: IncomingMessage, res: ServerResponse): void {
    const request = forwardAuthRequest(req);
    let decision: Decision | Promise<Decision>;
    try {
      decision = decider.decide(request);
    } catch (err) {
      fail(res, err);
      return;
    }
    // A cached token is answered in this tick; a full check resolves later.
    if (decision instanceof Promise) {
      decision.then(
        (d) => answer(request, res, d),
        (err: unknown) => fail(res, err),
      );
    } else answer(request, res, decision);
  };
}

/** True for `/verify` and `/verify?…`. */
export const isVerifyPath = (url: string | undefined): boolean =>
  url !== undefined && url.startsWith('/verify') && (url.length === 7 || url[7] === '?');
