/**
 * The HTTP side: `/health`, and `/mcp` as the Streamable HTTP transport (MCP 2025-11-25,
 * basic/transports). What is checked here, before a session's SDK transport sees the request:
 * that it came through the gateway's edge (X-Gateway-Edge, shared/edge-guard.ts), Origin,
 * MCP-Protocol-Version, the session and its owner, the body's size, and for a new session the
 * limits. Every refusal is an HTTP status with a JSON-RPC error body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  isInitializeRequest,
  isJSONRPCRequest,
  SUPPORTED_PROTOCOL_VERSIONS,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { createEdgeGuard, isLoopbackHost } from '../../shared/edge-guard.ts';
import { sendJsonRpcError } from '../../../contracts/jsonrpc-error.ts';
import { LimitLog } from '../../../contracts/limit-log.ts';
import { readJson } from '../../shared/read-json.ts';
import { callerIdentity } from '../../shared/identity.ts';
import type { ProxyConfig } from './config.ts';
import type { SessionManager } from './sessions.ts';
import { modernHandler, type ModernPool } from './modern.ts';
import { isModernPost } from '../../shared/era.ts';

/** The revisions this proxy relays: every one the SDK speaks (2025-11-25, -06-18, -03-26 and older). */
export const PROTOCOL_VERSIONS: readonly string[] = SUPPORTED_PROTOCOL_VERSIONS;

/**
 * MCP 2025-11-25, transports, "Security Warning": servers MUST validate the Origin header, and
 * answer 403 when it is present and invalid. No Origin: not a browser, so it passes.
 */
function originAllowed(config: ProxyConfig, origin: string | undefined): boolean {
  if (origin === undefined || config.allowedOrigins === '*' || config.allowedOrigins.has(origin)) return true;
  const url = URL.parse(origin);
  return config.allowLoopbackOrigins && url?.protocol === 'http:' && isLoopbackHost(url.hostname);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The JSON-RPC requests of a body (one message, or a 2025-03-26 batch). */
function requestsIn(body: unknown): JSONRPCRequest[] {
  return (Array.isArray(body) ? body : [body]).filter((m): m is JSONRPCRequest => isJSONRPCRequest(m));
}

export function createHandler(
  config: ProxyConfig,
  sessions: SessionManager,
  pool: ModernPool,
  logger: Logger,
  limits = new LimitLog(logger),
) {
  const fromEdge = createEdgeGuard(config.edgeSecret, logger);
  const modern = modernHandler(pool);
  /** The body, or its refusal answered (413 over the message limit, 400 not JSON). */
  async function read(
    req: IncomingMessage,
    res: ServerResponse,
    user: string,
  ): Promise<{ value: unknown } | undefined> {
    const body = await readJson(req, config.maxMessageBytes);
    if (body.ok) return body;
    if (body.status === 413) limits.hit('message size', user, { maxBytes: config.maxMessageBytes, status: 413 });
    sendJsonRpcError(res, body.status, body.code, body.message);
    return undefined;
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const origin = header(req, 'origin');
    if (!originAllowed(config, origin)) {
      logger.info({ origin }, 'origin refused');
      return sendJsonRpcError(res, 403, -32000, `Forbidden: origin ${origin} may not call this server`);
    }
    // Transports, "Protocol Version Header": an invalid or unsupported version MUST get 400. A
    // session-less POST may be of the 2026-07-28 era, whose handler answers for its versions.
    const version = header(req, 'mcp-protocol-version');
    const unsupported = () =>
      sendJsonRpcError(
        res,
        400,
        -32000,
        `Bad Request: unsupported MCP-Protocol-Version ${version} (supported: ${PROTOCOL_VERSIONS.join(', ')})`,
      );
    const sessionless = req.method === 'POST' && header(req, 'mcp-session-id') === undefined;
    if (version !== undefined && !PROTOCOL_VERSIONS.includes(version) && !sessionless) return unsupported();
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      return sendJsonRpcError(res, 405, -32000, 'Method not allowed', null, { allow: 'GET, POST, DELETE' });
    }
    const identity = callerIdentity(req.headers);
    const sessionId = header(req, 'mcp-session-id');
    if (sessionId !== undefined) {
      // Transports, "Session Management": an unknown or ended session MUST get 404 (the client
      // then starts a new one). Another user's session is unknown to this user.
      const session = sessions.find(sessionId, identity.id);
      if (!session) return sendJsonRpcError(res, 404, -32001, 'Session not found');
      sessions.touch(session);
      if (req.method !== 'POST') return session.serve(req, res);
      const body = await read(req, res, identity.id);
      if (!body) return;
      // A bound on what one session may have the server working on: past it, 429 with the
      // request's id (RFC 6585 §4), and the client retries once some have been answered.
      const incoming = requestsIn(body.value);
      if (incoming.length && session.relay.pendingCount() + incoming.length > config.maxPendingRequests) {
        limits.hit('pending requests per session', identity.id, {
          session: sessionId,
          max: config.maxPendingRequests,
          status: 429,
        });
        const message = `Too many requests in progress: a session may have ${config.maxPendingRequests} unanswered`;
        return sendJsonRpcError(res, 429, -32000, message, incoming[0]!.id, { 'retry-after': '1' });
      }
      return session.serve(req, res, body.value);
    }
    // No session id: a 2026-07-28 request (served by the user's pooled child, modern.ts), or an
    // initialize; other 2025 requests without it SHOULD get 400 ("Session Management").
    const missing = 'Bad Request: Mcp-Session-Id header is required (start a session with initialize)';
    if (req.method !== 'POST') return sendJsonRpcError(res, 400, -32000, missing);
    const body = await read(req, res, identity.id);
    if (!body) return;
    if (isModernPost(req, body.value)) return modern(req, res, body.value);
    if (version !== undefined && !PROTOCOL_VERSIONS.includes(version)) return unsupported();
    if (!isInitializeRequest(body.value)) return sendJsonRpcError(res, 400, -32000, missing);
    const session = sessions.open(identity);
    if ('status' in session) {
      const retry: Record<string, string> = session.status === 503 ? { 'retry-after': '30' } : {};
      const id = (body.value as { id?: RequestId }).id ?? null;
      return sendJsonRpcError(res, session.status, -32000, session.message, id, retry);
    }
    try {
      await session.serve(req, res, body.value);
    } finally {
      sessions.settle(session);
    }
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      const health = { status: 'ok', service: config.serviceName, sessions: sessions.size };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(health));
      return;
    }
    // First of all, before the Origin check: a request not from the edge gets 403 and touches
    // no session; one from it goes on without the header (no child, log or tool sees it).
    if (!fromEdge(req, res)) return;
    if (path !== '/mcp') return sendJsonRpcError(res, 404, -32000, 'Not found');
    handleMcp(req, res).catch((err: Error) => {
      logger.error({ err: err.message }, 'request failed');
      if (!res.headersSent) sendJsonRpcError(res, 500, -32603, 'Internal error');
      else res.end();
    });
  };
}
