/**
 * A native MCP service over Streamable HTTP (the official SDK's transport): `/mcp` for MCP,
 * `/health` for the container healthcheck. Listens on HOST:PORT (defaults 127.0.0.1:3000).
 * Stateless services get a fresh server per request; stateful ones keep one per session.
 * Every request but `/health` must come through the gateway's edge (edge-guard.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { pino } from 'pino';
import { createEdgeGuard, startupEdgeSecret, type EdgeGuardLog } from './edge-guard.ts';
import { applyKeepAlive } from './keep-alive.ts';
import { IDENTITY } from '../../contracts/headers.ts';
import { SessionEventStore } from './event-store.ts';

export interface ServiceOptions {
  name: string;
  /** Builds the MCP server for a request (stateless) or a session (stateful). */
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

function jsonRpcError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null });
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

export function createServiceHandler(options: ServiceOptions) {
  /** Each session with the user who opened it (X-User-Id from the edge's decision). */
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; user: string }>();
  const fromEdge = createEdgeGuard(options.edgeSecret, options.log ?? pino({ name: options.name }));

  async function handleStateless(req: IncomingMessage, res: ServerResponse) {
    const server = options.create();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }

  async function handleStateful(req: IncomingMessage, res: ServerResponse) {
    const id = req.headers['mcp-session-id'];
    const user = String(req.headers[IDENTITY.id] ?? '');
    const existing = typeof id === 'string' ? sessions.get(id) : undefined;
    // A session is its user's: another user presenting its id finds nothing, as at the stdio proxy
    // (MCP transports, "Session Management": servers SHOULD bind session ids to user information).
    if (existing && existing.user === user) return existing.transport.handleRequest(req, res);
    if (typeof id === 'string') return jsonRpcError(res, 404, 'Session not found');
    // No session id: only an initialize may start one; the transport itself answers 400 otherwise.
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // Resumable streams: a priming event id on each, Last-Event-ID replays (event-store.ts).
      eventStore: new SessionEventStore(),
      onsessioninitialized: (sid) => void sessions.set(sid, { transport, user }),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await options.create().connect(transport);
    await transport.handleRequest(req, res);
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
      jsonRpcError(res, 404, 'Not found');
      return;
    }
    const work = options.stateful ? handleStateful(req, res) : handleStateless(req, res);
    work.catch(() => {
      if (!res.headersSent) jsonRpcError(res, 500, 'Internal error');
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
  const server = applyKeepAlive(createServer(createServiceHandler({ ...options, log, edgeSecret })));
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
