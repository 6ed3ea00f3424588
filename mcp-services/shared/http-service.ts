/**
 * A native MCP service over Streamable HTTP: `/mcp` for MCP, `/health` for the container
 * healthcheck. Listens on HOST:PORT (defaults 127.0.0.1:3000). Every request but `/health` must
 * come through the gateway's edge (edge-guard.ts).
 * Both protocol eras, with the MCP SDK v2 (`@modelcontextprotocol/server` and `/node`):
 *   2026-07-28    stateless: each request served by a fresh server from the factory
 *                 (createMcpHandler: server/discover, per-request `_meta`, `-32022` for an unknown
 *                 version);
 *   2025 revisions  stateless services: the same handler's legacy fallback; stateful ones: one
 *                 server per session (initialize, Mcp-Session-Id), the session bound to its user,
 *                 its streams resumable (event-store.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createMcpHandler,
  WebStandardStreamableHTTPServerTransport,
  type McpServer,
} from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { pino } from 'pino';
import { createEdgeGuard, startupEdgeSecret, type EdgeGuardLog } from './edge-guard.ts';
import { applyKeepAlive } from './keep-alive.ts';
import { IDENTITY } from '../../contracts/headers.ts';
import { answerClientErrors } from '../../contracts/client-errors.ts';
import { sendJsonRpcError } from '../../contracts/jsonrpc-error.ts';
import { LimitLog } from '../../contracts/limit-log.ts';
import { boundedResponse } from './bounded-stream.ts';
import { SessionEventStore } from './event-store.ts';
import { readJson } from './read-json.ts';
import { endWithParent } from './parent.ts';
import { isModernPost } from './era.ts';

export interface ServiceOptions {
  name: string;
  /** Builds the MCP server for a request (stateless, and every 2026-07-28 request) or a session. */
  create: () => McpServer;
  stateful: boolean;
  /**
   * The service's edge secret (MCP_EDGE_SECRET): requests without it in X-Gateway-Edge are
   * refused. Undefined: no check (a service on loopback only; `listen` decides from HOST).
   */
  edgeSecret?: string;
  /** Where refusals are logged; a pino logger named after the service by default. */
  log?: EdgeGuardLog;
}

/**
 * The native services' limits (docs/operations.md, "Limits"), the stdio proxy's defaults: a
 * request body (the SDK's own default bound), 2025-era sessions in all and per user, a session's
 * idle life, and what an event stream or a session's resumable events may hold.
 */
export const SERVICE_LIMITS = {
  bodyBytes: 4 * 1024 * 1024,
  sessions: 100,
  sessionsPerUser: 10,
  idleMs: 15 * 60_000,
  streamBufferBytes: 16 * 1024 * 1024,
};

/** A refusal of this service's own (-32000, a server error), with the HTTP status it calls for. */
function refuse(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  sendJsonRpcError(res, status, -32000, message, null, headers);
}

export function createServiceHandler(options: ServiceOptions, limitsOf: Partial<typeof SERVICE_LIMITS> = {}) {
  const bounds = { ...SERVICE_LIMITS, ...limitsOf };
  /**
   * Each 2025-era session with the user who opened it (X-User-Id from the edge's decision). Its
   * transport is the SDK's web-standard one, served through the SDK's node adapter `toNodeHandler`:
   * the SDK's NodeStreamableHTTPServerTransport (@hono/node-server) holds an event stream's start
   * back ~1 ms to look for its end (honojs/node-server#266), with resumable streams' priming event
   * on every call.
   */
  const sessions = new Map<
    string,
    {
      serve: ReturnType<typeof toNodeHandler>;
      user: string;
      transport: WebStandardStreamableHTTPServerTransport;
      idle?: NodeJS.Timeout;
    }
  >();
  /** Sessions being opened (initialize not yet answered): they count against the limits too. */
  const opening = new Map<string, number>();
  const log = options.log ?? pino({ name: options.name });
  const fromEdge = createEdgeGuard(options.edgeSecret, log);
  const limits = new LimitLog({ warn: (fields, message) => log.warn(fields, message) });
  /** An event stream ends past its buffer bound (bounded-stream.ts), logged once per user. */
  const bounded = (user: string) => async (response: Promise<Response>) =>
    boundedResponse(await response, bounds.streamBufferBytes, () =>
      limits.hit('stream buffer', user, { maxBytes: bounds.streamBufferBytes }),
    );
  // Stateless services: both eras from one handler. Stateful ones: 2026-07-28 only here, the
  // 2025 revisions in their sessions below.
  const mcp = createMcpHandler(options.create, { legacy: options.stateful ? 'reject' : 'stateless' });
  const perRequest = toNodeHandler({
    fetch: (request, opts) => bounded(request.headers.get(IDENTITY.id) ?? '')(mcp.fetch(request, opts)),
  });

  /** A session's idle clock restarts with each request; when it runs out, the session ends. */
  function touch(id: string): void {
    const session = sessions.get(id);
    if (!session) return;
    clearTimeout(session.idle);
    session.idle = setTimeout(() => void session.transport.close(), bounds.idleMs);
    session.idle.unref();
  }

  /** The refusal of a new session over a limit (503 for the service, 429 for the user), or none. */
  function overLimit(user: string): { status: number; message: string } | undefined {
    const all = sessions.size + [...opening.values()].reduce((a, b) => a + b, 0);
    if (all >= bounds.sessions) {
      limits.hit('sessions', 'all', { max: bounds.sessions, status: 503 });
      return { status: 503, message: `Too many sessions: this service allows ${bounds.sessions} at a time` };
    }
    const mine = [...sessions.values()].filter((s) => s.user === user).length + (opening.get(user) ?? 0);
    if (mine >= bounds.sessionsPerUser) {
      limits.hit('sessions per user', user, { max: bounds.sessionsPerUser, status: 429 });
      return {
        status: 429,
        message: `Too many sessions: each user may have ${bounds.sessionsPerUser}; end one (DELETE) or let it expire`,
      };
    }
    return undefined;
  }

  async function handleStateful(req: IncomingMessage, res: ServerResponse) {
    const id = req.headers['mcp-session-id'];
    const user = String(req.headers[IDENTITY.id] ?? '');
    const existing = typeof id === 'string' ? sessions.get(id) : undefined;
    // A session is its user's: another user presenting its id finds nothing, as at the stdio proxy
    // (MCP transports, "Session Management": servers SHOULD bind session ids to user information).
    if (existing && existing.user === user) {
      touch(id as string);
      return existing.serve(req, res);
    }
    if (typeof id === 'string') return refuse(res, 404, 'Session not found');
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readJson(req, bounds.bodyBytes);
      if (!read.ok) {
        if (read.status === 413) limits.hit('message size', user, { maxBytes: bounds.bodyBytes, status: 413 });
        return refuse(res, read.status, read.message);
      }
      body = read.value;
      // A request of the 2026-07-28 era: no session, served statelessly.
      if (isModernPost(req, body)) return perRequest(req, res, body);
    }
    // No session id: only an initialize may start one; the transport itself answers 400 otherwise.
    const refusal = overLimit(user);
    if (refusal) {
      return refuse(res, refusal.status, refusal.message, refusal.status === 503 ? { 'retry-after': '30' } : {});
    }
    opening.set(user, (opening.get(user) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (opening.get(user) ?? 1) - 1;
      if (left > 0) opening.set(user, left);
      else opening.delete(user);
    };
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // Resumable streams: a priming event id on each, Last-Event-ID replays (event-store.ts).
      eventStore: new SessionEventStore({ eventsPerStream: 500, streams: 64, bytes: bounds.streamBufferBytes }),
      onsessioninitialized: (sid) => {
        release();
        sessions.set(sid, { serve, user, transport });
        touch(sid);
      },
    });
    const serve = toNodeHandler({
      fetch: (request, opts) => bounded(user)(transport.handleRequest(request, opts)),
    });
    transport.onclose = () => {
      const sid = transport.sessionId;
      if (sid) clearTimeout(sessions.get(sid)?.idle);
      if (sid) sessions.delete(sid);
    };
    try {
      await options.create().connect(transport);
      await serve(req, res, body);
    } finally {
      release();
      // An initialize the transport refused leaves no session, nor a server connected to nothing.
      if (transport.sessionId === undefined) void transport.close();
    }
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'ok', service: options.name }));
      return;
    }
    // Before anything of MCP runs: no transport, session or server for a request not from the edge.
    if (!fromEdge(req, res)) return;
    if (path !== '/mcp') {
      refuse(res, 404, 'Not found');
      return;
    }
    const work = options.stateful ? handleStateful(req, res) : perRequest(req, res);
    work.catch(() => {
      if (!res.headersSent) refuse(res, 500, 'Internal error');
      else res.end();
    });
  };
}

/** Serves on HOST:PORT; exits EX_CONFIG (78) when its edge secret setting forbids starting. */
export async function listen(options: ServiceOptions): Promise<Server> {
  const port = Number(process.env.PORT ?? 3000);
  const host = process.env.HOST || '127.0.0.1';
  const log = options.log ?? pino({ name: options.name });
  const edgeSecret = startupEdgeSecret(process.env, host, options.name, log);
  const handler = createServiceHandler({ ...options, log, edgeSecret });
  const limits = new LimitLog({ warn: (fields, message) => log.warn(fields, message) });
  const server = answerClientErrors(applyKeepAlive(createServer(handler)), 'jsonrpc', limits);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by `npm start`: when the gateway is gone, so is this service.
  endWithParent(() => {
    server.closeAllConnections();
    stop();
  });
  return server;
}
