/**
 * Streaming reverse proxy to an MCP service: request and response bodies flow through as they
 * come (SSE included), nothing is buffered. Hop-by-hop headers (RFC 9110 §7.6.1) are dropped.
 */
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  Agent,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k) && !listed.includes(k)) out[k] = v;
  return out;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const httpsAgents = new Map<string, HttpsAgent>();

export interface Upstream {
  host: string;
  port: number;
  /** Path that stands for the service's `/mcp` (default `/mcp`). */
  path?: string;
  /** A remote server over https (MCP_<S>_URL): its own Host, SNI and trust (MCP_<S>_CA). */
  tls?: { ca?: string };
  /**
   * A remote server (MCP_<S>_URL) that is not the operator's own: addressed by its own Host, its
   * cookies and challenges withheld, its 401/502/504 answered by the gateway (edge/remote.ts,
   * upstream/edge-answers.ts), at most `timeoutMs` to begin its answer.
   */
  remote?: { upstreamAuth: boolean; timeoutMs: number };
}

/** The request options that reach `upstream` (http, or https with its own Host and trust). */
export function upstreamTransport(upstream: Upstream): { request: typeof request; agent: Agent } {
  if (!upstream.tls) return { request, agent };
  const key = `${upstream.host}:${upstream.port}:${upstream.tls.ca ?? ''}`;
  let tlsAgent = httpsAgents.get(key);
  if (!tlsAgent) {
    tlsAgent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 256,
      servername: upstream.host,
      ...(upstream.tls.ca ? { ca: upstream.tls.ca } : {}),
    });
    httpsAgents.set(key, tlsAgent);
  }
  return { request: httpsRequest as unknown as typeof request, agent: tlsAgent as unknown as Agent };
}

/** The upstream path for `rest` (`/mcp…` after `/<service>` is stripped). */
export function upstreamPath(upstream: Upstream, rest: string): string {
  return upstream.path && upstream.path !== '/mcp' ? upstream.path + rest.slice('/mcp'.length) : rest;
}

export interface ProxyOptions {
  /** The answer's headers as the client gets them (the edge adds CORS). */
  answerHeaders?: (headers: OutgoingHttpHeaders) => OutgoingHttpHeaders;
  onError?: (err: Error) => void;
  /** The request's body, already read (else the request is piped). */
  body?: Buffer;
}

/** Sends `req` to `upstream` at `path` with `headers`; pipes the answer back to `res`. */
export function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Upstream,
  path: string,
  headers: IncomingHttpHeaders,
  { answerHeaders = (h) => h, onError, body }: ProxyOptions = {},
): void {
  const transport = upstreamTransport(upstream);
  const outgoing = transport.request(
    {
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: upstreamPath(upstream, path),
      headers,
      agent: transport.agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answerHeaders(withoutHopByHop(answer.headers)));
      // Server-sent events must reach the client as they are written.
      if (String(answer.headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders();
      answer.pipe(res);
    },
  );
  outgoing.on('error', (err) => {
    // A client that went away (below) is not the service's failure.
    const clientLeft = res.destroyed && !res.writableFinished;
    if (!clientLeft) onError?.(err);
    if (!res.headersSent) {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'MCP service unavailable' },
        id: null,
      });
      res
        .writeHead(
          502,
          answerHeaders({ 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        )
        .end(body);
    } else {
      res.destroy();
    }
  });
  // The client went away: so does the request upstream (ends SSE streams and pending calls).
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });
  if (!body) return void req.pipe(outgoing);
  // Read whole: sent with its length, whatever framing the client used (`headers` carry no
  // Transfer-Encoding: withoutHopByHop).
  if (body.length) outgoing.setHeader('content-length', body.length);
  outgoing.end(body);
}
