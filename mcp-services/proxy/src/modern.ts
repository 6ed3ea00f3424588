/**
 * MCP 2026-07-28 clients in front of a stdio server of today (issue 12). Such a client sends no
 * `initialize` and holds no session: each request stands alone, with its protocol version and
 * capabilities in `_meta`. The stdio servers speak the 2025 protocol, and need the handshake.
 * So the proxy keeps, per user, children that it has initialized itself (the pool: up to
 * MCP_PROXY_MODERN_CHILDREN, idle-expired like sessions), and serves each modern request with a fresh front server (the official SDK v2's
 * createMcpHandler: `server/discover`, the `_meta` envelope, `-32022` for an unknown version)
 * whose capabilities and server info are the child's, and whose handlers pass the request to that
 * user's child and its answer back. A request never reaches another user's child. A child's
 * requests to the client during a call (sampling, elicitation, roots) become input-required
 * results (input-required.ts); its notifications reach the user's `subscriptions/listen` streams
 * and the requests that asked for log messages (notifications.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ErrorCode, McpError, ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createMcpHandler, Server, type McpRequestContext, type ServerContext } from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import type { Logger } from 'pino';
import { sendJsonRpcError } from '../../../contracts/jsonrpc-error.ts';
import { LimitLog } from '../../../contracts/limit-log.ts';
import { boundedResponse } from '../../shared/bounded-stream.ts';
import { callerIdentity, headersOf } from '../../shared/identity.ts';
import { ChildProcessTransport } from './child.ts';
import type { ProxyConfig } from './config.ts';
import { identityEnv } from './sessions.ts';
import {
  askedBy,
  CHILD_CLIENT_CAPABILITIES,
  Flights,
  INPUT_REQUESTS,
  MULTI_ROUND_METHODS,
  type Flight,
} from './input-required.ts';
import { logListener, relayNotifications, UserChannel, type LogListener } from './notifications.ts';

/** The requests a modern client may make, by the capability of the child that serves them. */
const FORWARDED: Record<string, readonly string[]> = {
  tools: ['tools/list', 'tools/call'],
  resources: ['resources/list', 'resources/read', 'resources/templates/list'],
  prompts: ['prompts/list', 'prompts/get'],
  completions: ['completion/complete'],
};

/** Why a modern request cannot be served: an HTTP status and a message for a JSON-RPC error. */
export class PoolRefusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface Pooled {
  client: Client;
  child: ChildProcessTransport;
  /** Requests of this child's user in flight at it. */
  pending: number;
  /** Its calls that may ask the client something (tools/call, prompts/get, resources/read), oldest first. */
  flights: Set<Flight>;
  /** Its requests in flight that asked for log messages, oldest first (notifications.ts). */
  logListeners: Set<LogListener>;
  idleTimer?: NodeJS.Timeout;
  /** When a request of its user last chose it (ms, performance.now()). */
  lastUsed: number;
  /** Ended for idleness, its process on the way out: never chosen again. */
  closing?: boolean;
}

/** A child in the pool: starting (`ready` pending), or ready (`pooled` set). */
interface Entry {
  ready: Promise<Pooled>;
  pooled?: Pooled;
  child: ChildProcessTransport;
}

/** `resources/subscribe` at a child that supports it, for each URI; a refusal is the child's to have. */
async function subscribeChild(client: Client, uris: readonly string[]): Promise<void> {
  if (!uris.length || !client.getServerCapabilities()?.resources?.subscribe) return;
  await Promise.all(uris.map((uri) => client.subscribeResource({ uri }).catch(() => undefined)));
}

export class ModernPool {
  readonly config: ProxyConfig;
  private readonly baseEnv: Record<string, string>;
  private readonly logger: Logger;
  /** Each user's children: initialized, or starting. At most `modernChildrenPerUser`. */
  private readonly byUser = new Map<string, Entry[]>();
  /** Calls waiting for their client's answers. */
  readonly flights: Flights;
  /** Each user's notifications (notifications.ts): kept while they have children or listen. */
  private readonly channels = new Map<string, UserChannel>();

  /** Refusals and ended streams, logged once per limit and key. */
  readonly limits: LimitLog;

  constructor(config: ProxyConfig, baseEnv: Record<string, string>, logger: Logger, limits = new LimitLog(logger)) {
    this.config = config;
    this.limits = limits;
    this.flights = new Flights(config.requestTimeoutMs);
    this.baseEnv = baseEnv;
    this.logger = logger;
  }

  /** Children running or starting, every user's. */
  get size(): number {
    return [...this.byUser.values()].reduce((n, list) => n + list.length, 0);
  }

  get requestTimeoutMs(): number {
    return this.config.requestTimeoutMs;
  }

  /**
   * A child of the user, initialized: an idle one; else a new one while the user has fewer than
   * MCP_PROXY_MODERN_CHILDREN; else the least busy. Started on first use, each ended after
   * MCP_PROXY_IDLE_TIMEOUT unused. Decided before any wait, so that concurrent first requests
   * of a user do not start more children than allowed.
   */
  async childOf(headers: Record<string, string | string[] | undefined>): Promise<Pooled> {
    const identity = callerIdentity(headers);
    let list = this.byUser.get(identity.id);
    if (!list) this.byUser.set(identity.id, (list = []));
    // A child ending (idle, or its process gone before its transport said so) is never chosen,
    // nor counted against the user's children: its entry leaves when the transport closes.
    const live = list.filter((e) => !e.pooled || (e.pooled.child.running && !e.pooled.closing));
    const ready = live
      .map((e) => e.pooled)
      .filter((p): p is Pooled => p !== undefined)
      .sort((a, b) => a.pending - b.pending);
    let chosen: Promise<Pooled> | undefined;
    if (ready[0] && ready[0].pending === 0) chosen = Promise.resolve(ready[0]);
    else if (live.length < this.config.modernChildrenPerUser && this.size < this.config.maxSessions) {
      chosen = this.start(identity, list);
    } else if (ready[0]) chosen = Promise.resolve(ready[0]);
    else if (live[0]) chosen = live[0].ready;
    if (!chosen) {
      if (!list.length) this.byUser.delete(identity.id);
      this.limits.hit('children', 'all', { max: this.config.maxSessions, status: 503 });
      throw new PoolRefusal(
        503,
        `Too many users at once: this server runs ${this.config.maxSessions} children at a time`,
      );
    }
    const pooled = await chosen;
    pooled.lastUsed = performance.now();
    if (!pooled.idleTimer) this.armIdle(pooled, this.config.idleTimeoutMs);
    return pooled;
  }

  private remove(user: string, entry: Entry): void {
    const list = (this.byUser.get(user) ?? []).filter((e) => e !== entry);
    if (list.length) this.byUser.set(user, list);
    else {
      this.byUser.delete(user);
      if (!this.channels.get(user)?.bus.listenerCount) this.channels.delete(user);
    }
  }

  /** The user's notification channel: their `subscriptions/listen` streams' bus. */
  channelOf(user: string): UserChannel {
    let channel = this.channels.get(user);
    if (!channel) this.channels.set(user, (channel = new UserChannel()));
    return channel;
  }

  /** Subscribes the user's ready children to resources a listen stream asks about. */
  subscribe(user: string, uris: readonly string[]): Promise<unknown> {
    const fresh = this.channelOf(user).want(uris);
    const children = (this.byUser.get(user) ?? []).map((e) => e.pooled).filter((p) => p !== undefined);
    return Promise.all(children.map((p) => subscribeChild(p.client, fresh)));
  }

  /** Starts a child for the user, its entry in `list` at once; the entry goes when it ends. */
  private start(identity: ReturnType<typeof callerIdentity>, list: Entry[]): Promise<Pooled> {
    const log = this.logger.child({ user: identity.id });
    const child = new ChildProcessTransport({
      command: this.config.command,
      env: { ...this.baseEnv, ...identityEnv(identity) },
      maxMessageBytes: this.config.maxMessageBytes,
      killGraceMs: this.config.killGraceMs,
      onStderr: (line) => log.info({ stderr: line }, 'MCP server stderr'),
    });
    const client = new Client(
      { name: 'mcp-oauth-gateway', version: '1.0.0' },
      { capabilities: CHILD_CLIENT_CAPABILITIES },
    );
    const pooled: Pooled = {
      client,
      child,
      pending: 0,
      flights: new Set(),
      logListeners: new Set(),
      lastUsed: performance.now(),
    };
    relayNotifications(client, () => this.channelOf(identity.id), pooled.logListeners);
    for (const { schema } of Object.values(INPUT_REQUESTS)) {
      client.setRequestHandler(schema, (request) => {
        const flight = askedBy(pooled.flights);
        // Outside any call (a server asking for roots at start): nobody to ask.
        if (!flight) throw new McpError(ErrorCode.InvalidRequest, 'No request of the client is in flight');
        return flight.ask(request.method, request.params) as never;
      });
    }
    const entry = { child } as Entry;
    child.onclose = () => {
      clearTimeout(pooled.idleTimer);
      this.remove(identity.id, entry);
      log.info({ pid: child.pid }, 'modern child ended');
    };
    entry.ready = client.connect(child).then(
      async () => {
        // Resource updates the user's listen streams asked for, from this child too.
        await subscribeChild(client, [...(this.channels.get(identity.id)?.resources ?? [])]);
        entry.pooled = pooled;
        log.info({ pid: child.pid }, 'modern child started');
        return pooled;
      },
      async (err: Error) => {
        this.remove(identity.id, entry);
        await client.close().catch(() => undefined);
        log.warn({ reason: child.exitReason ?? err.message }, 'modern child failed to start');
        throw new PoolRefusal(502, `The MCP server could not be started: ${child.exitReason ?? err.message}`);
      },
    );
    list.push(entry);
    return entry.ready;
  }

  /**
   * Ends the child once it has been unused for MCP_PROXY_IDLE_TIMEOUT. One timer per child, not
   * one per request: when it fires early (the child was used meanwhile) it waits the rest.
   */
  private armIdle(pooled: Pooled, ms: number): void {
    pooled.idleTimer = setTimeout(() => {
      const left = pooled.lastUsed + this.config.idleTimeoutMs - performance.now();
      // A request still in flight is activity; the request timeout bounds it.
      if (pooled.pending > 0) return this.armIdle(pooled, this.config.idleTimeoutMs);
      if (left > 0) return this.armIdle(pooled, left);
      pooled.closing = true;
      void pooled.client.close();
    }, ms);
    pooled.idleTimer.unref();
  }

  /** Ends every child at once (this process is ending without a word to anyone). */
  killAll(): void {
    for (const entry of [...this.byUser.values()].flat()) entry.child.killNow();
  }

  async close(): Promise<void> {
    const all = [...this.byUser.values()].flat();
    this.byUser.clear();
    await Promise.all(all.map(async (e) => (await e.ready.catch(() => undefined))?.client.close()));
  }
}

/** The child modernHandler chose for the request being served (the SDK calls the factory within). */
const chosenChild = new AsyncLocalStorage<Pooled>();

/** The front server for one modern request: the user's child's capabilities, its answers. */
async function frontServer(pool: ModernPool, ctx: McpRequestContext): Promise<Server> {
  const pooled = chosenChild.getStore() ?? (await pool.childOf(headersOf(ctx.requestInfo)));
  const { client } = pooled;
  const capabilities = client.getServerCapabilities() ?? {};
  const info = client.getServerVersion() ?? { name: 'stdio server', version: '0' };
  const user = callerIdentity(headersOf(ctx.requestInfo)).id;
  const codec = pool.flights.codec(user);
  const server = new Server(
    { name: info.name, version: info.version },
    {
      requestState: { verify: codec.verify },
      capabilities: Object.fromEntries(
        // `logging`: its messages reach requests that ask for them (notifications.ts).
        [...Object.keys(FORWARDED), 'logging']
          .filter((c) => c in capabilities)
          .map((c) => [c, (capabilities as Record<string, object>)[c]]),
      ),
      ...(client.getInstructions() ? { instructions: client.getInstructions() } : {}),
    },
  );
  /** The request as a 2025 client sends it: the envelope's reserved `_meta` keys stay here. */
  const toChild = (request: { method: string; params?: Record<string, unknown> }) => {
    const { _meta, ...params } = request.params ?? {};
    void _meta;
    return { method: request.method, params };
  };
  const progressTo = (call: ServerContext) => {
    const progressToken = call.mcpReq._meta?.progressToken;
    return progressToken === undefined
      ? undefined
      : (progress: Record<string, unknown>) =>
          void call.mcpReq.notify({ method: 'notifications/progress', params: { ...progress, progressToken } });
  };
  /** The child's log messages go to this request while it waits, if it asked for them. */
  const listening = async <T>(call: ServerContext, wait: () => Promise<T>): Promise<T> => {
    const listener = logListener(call);
    if (listener) pooled.logListeners.add(listener);
    try {
      return await wait();
    } finally {
      if (listener) pooled.logListeners.delete(listener);
    }
  };
  for (const [capability, methods] of Object.entries(FORWARDED)) {
    if (!(capability in capabilities)) continue;
    for (const method of methods) {
      const handler = MULTI_ROUND_METHODS.has(method)
        ? async (request: { method: string; params?: Record<string, unknown> }, call: ServerContext) => {
            const state = call.mcpReq.requestState<{ flight: string }>();
            let flight: Flight;
            if (state !== undefined) {
              flight = pool.flights.resume(state, user, request);
              flight.answer(call.mcpReq.inputResponses);
            } else {
              pooled.pending++;
              flight = pool.flights.start(
                user,
                request,
                server.getClientCapabilities() as Record<string, unknown> | undefined,
                (signal, self) =>
                  client.request(toChild(request), ResultSchema, {
                    signal,
                    timeout: pool.requestTimeoutMs,
                    onprogress: (progress) => self().progress?.(progress),
                  }),
                (ended) => {
                  pooled.pending--;
                  pooled.flights.delete(ended);
                },
              );
              pooled.flights.add(flight);
            }
            flight.capabilities = (server.getClientCapabilities() as Record<string, unknown> | undefined) ?? {};
            flight.progress = progressTo(call);
            return listening(call, () => pool.flights.round(flight, call, codec));
          }
        : async (request: { method: string; params?: Record<string, unknown> }, call: ServerContext) => {
            const onprogress = progressTo(call);
            pooled.pending++;
            return listening(call, () =>
              client.request(toChild(request), ResultSchema, {
                signal: call.mcpReq.signal,
                timeout: pool.requestTimeoutMs,
                ...(onprogress ? { onprogress } : {}),
              }),
            ).finally(() => pooled.pending--);
          };
      server.setRequestHandler(method as 'tools/list', handler as never);
    }
  }
  return server;
}

/**
 * The node handler serving 2026-07-28 requests (2025 ones are refused: they have their sessions).
 * The user's child is chosen and made ready first, so that a server that cannot start, or a full
 * pool, is a JSON-RPC error with its own status (502, 503), not the SDK's generic 500; the front
 * server is then built on that child.
 */
export function modernHandler(pool: ModernPool) {
  // One SDK handler per user, over that user's bus: their listen streams hear only their children.
  const handlers = new WeakMap<UserChannel, ReturnType<typeof toNodeHandler>>();
  const handlerOf = (channel: UserChannel, user: string) => {
    let handle = handlers.get(channel);
    if (!handle) {
      const mcp = createMcpHandler((ctx) => frontServer(pool, ctx), { legacy: 'reject', bus: channel.bus });
      const { maxStreamBufferBytes } = pool.config;
      handle = toNodeHandler({
        fetch: async (request, options) =>
          boundedResponse(await mcp.fetch(request, options), maxStreamBufferBytes, () =>
            pool.limits.hit('stream buffer', user, { maxBytes: maxStreamBufferBytes }),
          ),
      });
      handlers.set(channel, handle);
    }
    return handle;
  };
  return async (req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    let pooled: Pooled;
    try {
      pooled = await pool.childOf(req.headers);
    } catch (err) {
      if (!(err instanceof PoolRefusal)) throw err;
      const id = (body as { id?: unknown } | undefined)?.id;
      const retry: Record<string, string> = err.status === 503 ? { 'retry-after': '30' } : {};
      return sendJsonRpcError(res, err.status, -32000, err.message, id, retry);
    }
    const user = callerIdentity(req.headers).id;
    // As a 2025 session's (http.ts): a bound on what one child is working on for its user.
    if (pooled.pending >= pool.config.maxPendingRequests) {
      pool.limits.hit('pending requests per child', user, { max: pool.config.maxPendingRequests, status: 429 });
      const id = (body as { id?: unknown } | undefined)?.id;
      const message = `Too many requests in progress: at most ${pool.config.maxPendingRequests} unanswered`;
      return sendJsonRpcError(res, 429, -32000, message, id, { 'retry-after': '1' });
    }
    const listen = body as { method?: unknown; params?: { notifications?: { resourceSubscriptions?: unknown } } };
    const uris = listen?.params?.notifications?.resourceSubscriptions;
    if (listen?.method === 'subscriptions/listen' && Array.isArray(uris)) {
      await pool.subscribe(
        user,
        uris.filter((u): u is string => typeof u === 'string'),
      );
    }
    return chosenChild.run(pooled, () => handlerOf(pool.channelOf(user), user)(req, res, body));
  };
}
