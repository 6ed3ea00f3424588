/**
 * What a server answers to a request its HTTP parser refused, before any handler ran: request
 * headers larger than Node's `--max-http-header-size` (16 KiB by default) get 431 (RFC 6585 §5),
 * anything else unparseable 400, a request too slow to arrive 408, each with a body in the shape
 * of the server's protocol and `Connection: close`. Header overflows are logged once per address
 * (limit-log.ts). Node does the same by default minus the body and the log; a `clientError`
 * listener replaces that default, so every case is answered here.
 */
import { maxHeaderSize, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { jsonRpcErrorBody } from './jsonrpc-error.ts';
import type { LimitLog } from './limit-log.ts';

/** `oauth`: RFC 6749 §5.2's error object; `jsonrpc`: a JSON-RPC error (an MCP endpoint). */
export type ErrorShape = 'oauth' | 'jsonrpc';

function body(shape: ErrorShape, status: number): string {
  const description =
    status === 431
      ? `The request's headers are larger than ${maxHeaderSize} bytes`
      : status === 408
        ? 'The request did not arrive in time'
        : 'The request is not valid HTTP';
  // JSON-RPC 2.0 §5.1: -32600, Invalid Request.
  if (shape === 'jsonrpc') return jsonRpcErrorBody(-32600, description);
  return JSON.stringify({ error: 'invalid_request', error_description: description });
}

export function answerClientErrors(server: Server, shape: ErrorShape, limits: LimitLog): Server {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { remoteAddress?: string }) => {
    // A connection reset, or one whose answer already began: nothing to say to it.
    const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (status === 431) limits.hit('request header size', socket.remoteAddress ?? '-', { maxBytes: maxHeaderSize });
    const text = body(shape, status);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  });
  return server;
}
