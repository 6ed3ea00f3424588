/**
 * The transparent relay of one session: JSON-RPC messages pass unchanged between the session's
 * Streamable HTTP transport (the client) and its stdio child (the server). The relay only
 * watches: it times out client requests the server does not answer, and when the server dies
 * it answers every pending request with an error and ends the session.
 */
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ChildProcessTransport } from './child.ts';

export interface RelayOptions {
  requestTimeoutMs: number;
  log: Logger;
  /** The session is over for the client (its server may still be stopping). */
  onClosed: () => void;
}

export interface Relay {
  /** Client requests the server has not answered yet. */
  pendingCount(): number;
  /** Ends the session: the HTTP side closes and the child is stopped. Resolves once it has exited. */
  end(reason: string): Promise<void>;
  /** Resolves when the session has ended and its child is gone. */
  readonly ended: Promise<void>;
}

interface Pending {
  method: string;
  progressToken?: string | number;
  timer: NodeJS.Timeout;
}

/** Notifications about the server's state rather than a request: they belong on the GET stream. */
const UNSOLICITED = /^notifications\/(.+\/list_changed|resources\/updated)$/;

function errorResponse(id: RequestId, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

export function createRelay(
  http: WebStandardStreamableHTTPServerTransport,
  child: ChildProcessTransport,
  options: RelayOptions,
) {
  const { log } = options;
  const pending = new Map<RequestId, Pending>();
  const byProgressToken = new Map<string | number, RequestId>();
  let ending: string | undefined;
  let markEnded!: () => void;
  const ended = new Promise<void>((resolve) => (markEnded = resolve));

  function deliver(message: JSONRPCMessage, relatedRequestId?: RequestId): Promise<void> {
    return http.send(message, { relatedRequestId }).catch((err: Error) => {
      log.debug({ err: err.message }, 'message for the client could not be delivered');
    });
  }

  function forget(id: RequestId): Pending | undefined {
    const entry = pending.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    pending.delete(id);
    if (entry.progressToken !== undefined) byProgressToken.delete(entry.progressToken);
    return entry;
  }

  function armTimeout(id: RequestId): NodeJS.Timeout {
    return setTimeout(() => {
      const entry = forget(id);
      if (!entry) return;
      const seconds = options.requestTimeoutMs / 1000;
      log.info({ method: entry.method, timeoutSeconds: seconds }, 'request timed out');
      void deliver(
        errorResponse(id, ErrorCode.RequestTimeout, `Request timed out: the MCP server did not answer in ${seconds} s`),
      );
      // MCP 2025-11-25, utilities/cancellation: tell the server the request is abandoned.
      void child
        .send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timed out' } })
        .catch(() => {});
    }, options.requestTimeoutMs);
  }

  function track(request: JSONRPCRequest): void {
    const token = request.params?._meta?.progressToken;
    forget(request.id); // a client reusing a pending id: the newer request is the one waited for
    pending.set(request.id, { method: request.method, progressToken: token, timer: armTimeout(request.id) });
    if (token !== undefined) byProgressToken.set(token, request.id);
  }

  /**
   * Which client request a server message belongs with. MCP 2025-11-25, transports, "Sending
   * Messages to the Server": while answering a POST the server MAY send requests and
   * notifications on its SSE stream, and they SHOULD relate to that request; otherwise they go
   * on the GET stream ("Listening for Messages from the Server"). stdio carries no such
   * relation, so: progress goes with the request that holds its token, state-change
   * notifications go on the GET stream, and anything else (logging, sampling, elicitation,
   * roots) goes with the latest pending request, which is what a server usually serves.
   */
  function relatedRequest(message: JSONRPCMessage): RequestId | undefined {
    if (!('method' in message)) return undefined;
    if (message.method === 'notifications/progress') {
      const id = byProgressToken.get(message.params?.progressToken as string | number);
      const entry = id === undefined ? undefined : pending.get(id);
      if (entry) {
        clearTimeout(entry.timer); // a server that reports progress is working: restart the clock
        entry.timer = armTimeout(id!);
      }
      return id;
    }
    if (UNSOLICITED.test(message.method)) return undefined;
    return [...pending.keys()].at(-1);
  }

  http.onmessage = (message) => {
    if (isJSONRPCRequest(message)) track(message);
    else if ('method' in message && message.method === 'notifications/cancelled') {
      forget(message.params?.requestId as RequestId);
    }
    child.send(message).catch(() => {
      if (isJSONRPCRequest(message)) {
        forget(message.id);
        void deliver(errorResponse(message.id, ErrorCode.ConnectionClosed, 'The MCP server is not running'));
      }
    });
  };

  child.onmessage = (message) => {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      // An answer to a request that timed out or was cancelled has nobody waiting for it.
      if (message.id === undefined || !forget(message.id)) {
        log.debug('late response from the MCP server dropped');
        return;
      }
      void deliver(message);
      return;
    }
    void deliver(message, relatedRequest(message));
  };

  child.onerror = (err) => log.warn({ err: err.message }, 'MCP server protocol error');

  // The server died (or was stopped): answer what it never will, then end the session.
  child.onclose = () => {
    const reason = child.exitReason ?? 'the MCP server process ended';
    if (ending === undefined) {
      ending = 'child exited';
      log.warn({ reason, pending: pending.size }, 'MCP server ended the session');
    }
    const answers = [...pending.keys()].map((id) => {
      forget(id);
      return deliver(errorResponse(id, ErrorCode.ConnectionClosed, `Session ended: ${reason}`));
    });
    void Promise.all(answers).then(() => http.close());
  };

  // DELETE, idle expiry or shutdown closed the HTTP side: stop the child.
  http.onclose = () => {
    ending ??= 'closed';
    options.onClosed();
    for (const id of [...pending.keys()]) forget(id);
    void child.close().then(markEnded);
  };

  async function end(reason: string): Promise<void> {
    ending ??= reason;
    await http.close(); // → http.onclose above, once
    await ended;
  }

  return { pendingCount: () => pending.size, end, ended } satisfies Relay;
}
