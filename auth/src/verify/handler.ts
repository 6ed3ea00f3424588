/**
 * GET /verify — Traefik ForwardAuth (docs/edge.md "The decision"). A plain node:http handler, not an Express
 * route: every MCP message passes through here.
 * Traefik sends the original headers plus X-Forwarded-Method/-Proto/-Host/-Uri/-For, and with
 * `forwardBody` (scripts/generate-deploy.ts) the body of a POST, so that the decision can hold its
 * MCP headers to it (mcp-headers.ts); on 2xx it copies `authResponseHeaders` onto the forwarded
 * request, otherwise it returns this answer to the client unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROUTING_ANSWERS } from '../edge/routes.ts';
import { isStorageOutage } from '../storage/outage.ts';
import type { Logger } from '../log.ts';
import type { Decision, VerifyDecider, VerifyRequest } from './decision.ts';
import { limitLogOf } from '../../../contracts/limit-log.ts';
import { hasBody, MCP_BODY_LIMIT, mcpRequest, readMcpBody, TOO_LARGE_BODY } from '../edge/mcp-body.ts';

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

export function forwardAuthRequest(req: IncomingMessage): VerifyRequest {
  const h = req.headers;
  return {
    method: first(h['x-forwarded-method']) ?? 'GET',
    uri: first(h['x-forwarded-uri']) ?? '',
    host: first(h['x-forwarded-host']),
    authorization: h.authorization,
    // Traefik forwards the client's own headers: its Origin is the browser's.
    origin: first(h.origin),
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

/**
 * Answers decided synchronously (every cached token, most new ones) are written together at the
 * end of the event-loop turn (`setImmediate`), not each inside its own socket's read callback.
 * Under load, the requests read in one turn are answered in one burst of writes, so the proxy
 * (Traefik, or the benchmark's wrk) wakes once for many answers and sends its next requests
 * together: on the 2-core bench this roughly halves /verify's CPU per request and doubles its
 * throughput (docs/performance.md). An answer waits at most for the other requests of its turn.
 */
class AnswerBatch {
  private readonly queue: (() => void)[] = [];
  private scheduled = false;
  private readonly flush = () => {
    this.scheduled = false;
    // Answers queued while flushing go to the next turn.
    const batch = this.queue.splice(0);
    for (const write of batch) write();
  };

  add(write: () => void): void {
    this.queue.push(write);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
}

export function verifyHandler(decider: VerifyDecider, logger: Logger) {
  const batch = new AnswerBatch();
  function answer(request: VerifyRequest, res: ServerResponse, decision: Decision): void {
    try {
      decider.log(decision, request);
      writeDecision(res, decision);
    } catch (err) {
      // A write on a connection already gone must not stop the rest of the batch.
      logger.error({ err }, 'verify answer failed');
    }
  }
  function fail(res: ServerResponse, err: unknown): void {
    // Storage unreachable (said once by the store, not per request) or a bug: fail closed, with an
    // OAuth-shaped answer.
    if (isStorageOutage(err)) logger.debug({ reason: (err as Error).message }, 'verify: storage unreachable');
    else logger.error({ err }, 'verify failed');
    const { status, headers, body: error } = ROUTING_ANSWERS.unavailable;
    const body = JSON.stringify(error);
    res.writeHead(status, {
      'content-type': 'application/json',
      ...headers,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }
  /** A POST with its body: the decision waits for it. */
  async function withBody(req: IncomingMessage, res: ServerResponse, request: VerifyRequest): Promise<void> {
    const body = await readMcpBody(req);
    if (body === 'too large') {
      limitLogOf(logger).hit('MCP request body size', request.host ?? '-', { maxBytes: MCP_BODY_LIMIT });
      const text = JSON.stringify(TOO_LARGE_BODY);
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
      return;
    }
    const decision = decider.decide({ ...request, mcp: mcpRequest(req.headers, body) });
    if (decision instanceof Promise) answer(request, res, await decision);
    // Decided at once (a cached token): written with the turn's other answers, as below.
    else batch.add(() => answer(request, res, decision));
  }
  return function verify(req: IncomingMessage, res: ServerResponse): void {
    const request = forwardAuthRequest(req);
    if (request.method === 'POST' && hasBody(req)) {
      withBody(req, res, request).catch((err: unknown) => fail(res, err));
      return;
    }
    let decision: Decision | Promise<Decision>;
    try {
      decision = decider.decide(request);
    } catch (err) {
      fail(res, err);
      return;
    }
    // A full check against storage resolves later (its answers arrive together anyway).
    if (decision instanceof Promise) {
      decision.then(
        (d) => answer(request, res, d),
        (err: unknown) => fail(res, err),
      );
    } else {
      const decided = decision;
      batch.add(() => answer(request, res, decided));
    }
  };
}

/** True for `/verify` and `/verify?…`. */
export const isVerifyPath = (url: string | undefined): boolean =>
  url !== undefined && url.startsWith('/verify') && (url.length === 7 || url[7] === '?');
