/**
 * The proxy's sessions: one Streamable HTTP transport and one stdio child each, bound to the
 * user who initialized it, counted against the limits, and ended when idle.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { LimitLog } from '../../../contracts/limit-log.ts';
import { boundedResponse } from '../../shared/bounded-stream.ts';
import { DEFAULT_EVENT_STORE_LIMITS, SessionEventStore } from '../../shared/event-store.ts';
import type { Logger } from 'pino';
import type { CallerIdentity } from '../../shared/identity.ts';
import { ChildProcessTransport } from './child.ts';
import type { ProxyConfig } from './config.ts';
import { createRelay, type Relay } from './relay.ts';

export interface Session {
  /** Set once the transport has accepted the initialize request. */
  id?: string;
  userId: string;
  transport: WebStandardStreamableHTTPServerTransport;
  /**
   * Serves a request of the session at the transport. The official SDK v2's node adapter: the
   * SDK v1 one (@hono/node-server) holds an event stream's start back ~1 ms to look for its end
   * (honojs/node-server#266), which with resumable streams' priming event was every call's.
   */
  serve: (req: IncomingMessage, res: ServerResponse, body?: unknown) => Promise<void>;
  child: ChildProcessTransport;
  relay: Relay;
  idleTimer?: NodeJS.Timeout;
}

export interface Refusal {
  status: number;
  message: string;
}

/** The child's view of who it serves: per-user servers read these. */
export function identityEnv(identity: CallerIdentity): Record<string, string> {
  const env: Record<string, string> = {
    MCP_USER_ID: identity.id,
    MCP_USER_LOGIN: identity.login,
    MCP_USER_NAME: identity.name,
    MCP_USER_EMAIL: identity.email,
    MCP_USER_PROVIDER: identity.provider,
    MCP_CLIENT_ID: identity.clientId,
  };
  for (const [name, value] of Object.entries(env)) if (!value) delete env[name];
  return env;
}

export function createSessionManager(
  config: ProxyConfig,
  baseEnv: Record<string, string>,
  logger: Logger,
  limits = new LimitLog(logger),
) {
  /** Every session, initialized or not: a slot is taken from the moment an initialize arrives. */
  const all = new Set<Session>();
  const byId = new Map<string, Session>();
  /** Children not yet gone, including those of ended sessions still stopping. */
  const live = new Set<ChildProcessTransport>();

  function remove(session: Session): void {
    clearTimeout(session.idleTimer);
    all.delete(session);
    if (session.id) byId.delete(session.id);
  }

  function armIdle(session: Session): void {
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      // A request still waiting for the server is activity; the request timeout bounds it.
      if (session.relay.pendingCount() > 0) return armIdle(session);
      logger.info({ session: session.id, user: session.userId }, 'session idle: ended');
      remove(session);
      void session.relay.end('idle');
    }, config.idleTimeoutMs);
    session.idleTimer.unref();
  }

  /** Checks the limits and prepares a session; its child starts when initialize is accepted. */
  function open(identity: CallerIdentity): Session | Refusal {
    if (all.size >= config.maxSessions) {
      limits.hit('sessions', 'all', { max: config.maxSessions, status: 503 });
      return { status: 503, message: `Too many sessions: this server allows ${config.maxSessions} at a time` };
    }
    const mine = [...all].filter((s) => s.userId === identity.id).length;
    if (mine >= config.maxSessionsPerUser) {
      limits.hit('sessions per user', identity.id, { max: config.maxSessionsPerUser, status: 429 });
      return {
        status: 429,
        message: `Too many sessions: each user may have ${config.maxSessionsPerUser}; end one (DELETE) or let it expire`,
      };
    }
    const log = logger.child({ user: identity.id });
    const child = new ChildProcessTransport({
      command: config.command,
      env: { ...baseEnv, ...identityEnv(identity) },
      maxMessageBytes: config.maxMessageBytes,
      killGraceMs: config.killGraceMs,
      onStderr: (line) => log.info({ session: session.id, stderr: line }, 'MCP server stderr'),
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      // Resumable streams: a priming event id on each, Last-Event-ID replays (shared/event-store.ts).
      eventStore: new SessionEventStore({ ...DEFAULT_EVENT_STORE_LIMITS, bytes: config.maxStreamBufferBytes }),
      // The session exists once initialize is accepted: spawn its server now (the initialize
      // request is handed to the relay right after this returns).
      onsessioninitialized: (id) => {
        session.id = id;
        byId.set(id, session);
        armIdle(session);
        void child.start().then(() => {
          log.info({ session: id, pid: child.pid }, 'session started');
        });
      },
    });
    const session: Session = {
      userId: identity.id,
      transport,
      serve: toNodeHandler({
        fetch: async (request, options) =>
          boundedResponse(await transport.handleRequest(request, options), config.maxStreamBufferBytes, () =>
            limits.hit('stream buffer', identity.id, { session: session.id, maxBytes: config.maxStreamBufferBytes }),
          ),
      }),
      child,
      relay: createRelay(transport, child, {
        requestTimeoutMs: config.requestTimeoutMs,
        log,
        // The slot is free as soon as the session is over; its server gets its grace to stop.
        onClosed: () => remove(session),
      }),
    };
    live.add(child);
    void session.relay.ended.then(() => {
      live.delete(child);
      if (session.id) log.info({ session: session.id }, 'session ended');
    });
    all.add(session);
    return session;
  }

  return {
    open,
    /** The session with this id if it belongs to this user; to anyone else it does not exist. */
    find(id: string, userId: string): Session | undefined {
      const session = byId.get(id);
      return session && session.userId === userId ? session : undefined;
    },
    /** Client activity: the idle clock restarts. */
    touch(session: Session): void {
      if (session.id) armIdle(session);
    },
    /** After the initialize POST: a transport that refused it leaves no session behind. */
    settle(session: Session): void {
      if (session.id === undefined) {
        remove(session);
        void session.relay.end('initialize refused');
      }
    },
    get size(): number {
      return all.size;
    },
    async closeAll(): Promise<void> {
      const sessions = [...all];
      for (const session of sessions) remove(session);
      await Promise.all(sessions.map((s) => s.relay.end('shutdown')));
    },
    /** Synchronous last resort (process exit). */
    killAll(): void {
      for (const child of live) child.killNow();
    },
  };
}

export type SessionManager = ReturnType<typeof createSessionManager>;
