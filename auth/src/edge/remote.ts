/**
 * A request to a remote MCP server with an authorization of its own (`MCP_<S>_AUTH`), at the
 * in-process edge. What the chain left of the client's request goes to the server with the
 * upstream's token (the /verify decision's `Authorization`), and its answer comes back, with:
 *   - the server's Host (it is not ours), and none of its cookies or challenges reaching the client;
 *   - MCP_<S>_TIMEOUT for its answer to begin: then 504, and 502 when it cannot be reached, each a
 *     JSON-RPC error naming the service; the user's grants are kept;
 *   - a 401: the token refreshed (or the machine token asked for again) and the request sent once
 *     more — the body is held for that, up to MCP_BODY_LIMIT; a second 401, or no new token, ends the
 *     user's upstream grant and the client gets the gateway's own 401 invalid_token challenge, so
 *     that its re-authorization repeats the upstream step (design: "Remote MCP servers");
 *   - a 403 insufficient_scope: the gateway's own 403 scope challenge, and the scope the server
 *     asked for joins the next upstream authorization.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import { challengeParams } from '../upstream/discovery.ts';
import type { UpstreamService } from '../upstream/upstreams.ts';
import { upstreamFailure, upstreamRefused } from '../upstream/edge-answers.ts';
import { jsonRpcErrorBody } from '../../../contracts/jsonrpc-error.ts';
import { InsufficientScopeError, toWire, type Challenge, type InvalidTokenError } from '../errors.ts';
import { upstreamPath, upstreamTransport, withoutHopByHop, type Upstream } from './proxy.ts';

/** Answer headers of the server that never reach the client besides the chain's (its challenge names its own server). */
const WITHHELD = ['www-authenticate'];

export interface RemoteRequest {
  name: string;
  upstream: Upstream;
  service: UpstreamService;
  /** The user the decision accepted (its token's `sub`). */
  userId: string;
  /** The path after `/<service>` (`/mcp…`). */
  path: string;
  headers: IncomingHttpHeaders;
  challenge: Challenge;
  answerHeaders: (headers: OutgoingHttpHeaders) => OutgoingHttpHeaders;
  /** The chain's strip-answer headers (chain.ts UPSTREAM_CHAIN). */
  withheld: readonly string[];
  /** The request's body, read by the edge (mcp-body.ts): held for the one retry after a 401. */
  body: Buffer;
  logger: Logger;
}

function answerJsonRpcError(
  res: ServerResponse,
  status: number,
  message: string,
  answerHeaders: RemoteRequest['answerHeaders'],
): void {
  const body = jsonRpcErrorBody(-32000, message);
  if (res.headersSent) return void res.destroy();
  res
    .writeHead(status, answerHeaders({ 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }))
    .end(body);
}

type Sent = { answer: IncomingMessage } | { failed: 'timeout' | 'unreachable'; error?: Error };

function send(
  r: RemoteRequest,
  method: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
  res: ServerResponse,
): Promise<Sent> {
  return new Promise((resolve) => {
    const transport = upstreamTransport(r.upstream);
    const outgoing = transport.request({
      host: r.upstream.host,
      port: r.upstream.port,
      method,
      path: upstreamPath(r.upstream, r.path),
      headers: { ...headers, 'content-length': String(body.length) },
      agent: transport.agent,
    });
    const timer = setTimeout(() => {
      resolve({ failed: 'timeout' });
      outgoing.destroy();
    }, r.service.remote.timeoutMs);
    outgoing.on('response', (answer) => {
      clearTimeout(timer);
      resolve({ answer });
    });
    outgoing.on('error', (error) => {
      clearTimeout(timer);
      resolve({ failed: 'unreachable', error });
    });
    // The client went away: so does the request upstream (ends SSE streams and pending calls).
    res.on('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    if (method === 'GET' || method === 'HEAD') outgoing.end();
    else outgoing.end(body);
  });
}

function refusal(res: ServerResponse, r: RemoteRequest, error: InvalidTokenError | InsufficientScopeError): void {
  const wire = toWire(error, undefined, r.challenge);
  const text = JSON.stringify(wire.body);
  res
    .writeHead(
      wire.status,
      r.answerHeaders({
        ...wire.headers,
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(text),
      }),
    )
    .end(text);
}

export async function remoteRequest(req: IncomingMessage, res: ServerResponse, r: RemoteRequest): Promise<void> {
  const method = req.method ?? 'GET';
  const body = r.body;
  let headers = r.headers;
  for (let attempt = 0; ; attempt++) {
    const started = performance.now();
    const sent = await send(r, method, headers, body, res);
    if (res.destroyed) return;
    if ('failed' in sent) {
      r.logger.warn(
        { service: r.name, failure: sent.failed, err: sent.error && { message: sent.error.message } },
        'remote MCP server request failed',
      );
      const failure = upstreamFailure(r.name, sent.failed, r.service.remote.timeoutMs);
      answerJsonRpcError(res, failure.status, failure.body.error.message, r.answerHeaders);
      return;
    }
    const { answer } = sent;
    r.service.observeLatency(performance.now() - started);
    const status = answer.statusCode ?? 502;
    const challenge = challengeParams(String(answer.headers['www-authenticate'] ?? ''));
    if (status === 401) {
      answer.resume();
      // One refresh (or a new machine token), then the same request once more.
      const next = attempt === 0 ? await r.service.rejected(r.userId, 401).catch(() => undefined) : undefined;
      if (next) {
        headers = { ...headers, authorization: next };
        continue;
      }
      await r.service.forget(r.userId);
      refusal(res, r, upstreamRefused(r.name));
      return;
    }
    if (status === 403 && challenge.error === 'insufficient_scope') {
      answer.resume();
      await r.service.rejected(r.userId, 403, challenge.scope).catch(() => undefined);
      refusal(
        res,
        r,
        new InsufficientScopeError(
          `${r.name} needs more scope${challenge.scope ? ` (${challenge.scope})` : ''}: authorize again`,
        ),
      );
      return;
    }
    const out = withoutHopByHop(answer.headers);
    for (const h of [...WITHHELD, ...r.withheld]) delete out[h];
    res.writeHead(status, r.answerHeaders(out));
    if (String(answer.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
    answer.pipe(res);
    answer.on('error', () => res.destroy());
    return;
  }
}
