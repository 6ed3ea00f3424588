/**
 * The body of a POST to an MCP service, read whole by the edge that must judge it: the local edge
 * (its headers must say what it says: verify/mcp-headers.ts; a remote server's request is sent
 * again after a refresh: remote.ts) and /verify behind Traefik's `forwardBody`. Bounded: a body
 * over MCP_BODY_LIMIT is refused with 413.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { McpRequestHeaders } from '../verify/mcp-headers.ts';

/**
 * The largest MCP request body an edge holds: Caddy's `request_body` to a service, Traefik's
 * forwardAuth `maxBodySize`, the local edge's read. Above what any service accepts by default
 * (the stdio proxy's MCP_PROXY_MAX_MESSAGE_BYTES is 8 MiB), so that the edge is never the limit.
 */
export const MCP_BODY_LIMIT = 16 * 1024 * 1024;

/** The answer to a body over MCP_BODY_LIMIT (413), at the local edge and at /verify. */
export const TOO_LARGE_BODY = {
  jsonrpc: '2.0',
  error: { code: -32600, message: `The request is larger than ${MCP_BODY_LIMIT} bytes` },
  id: null,
} as const;

export function readMcpBody(req: IncomingMessage): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MCP_BODY_LIMIT) {
      req.resume();
      return resolve('too large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MCP_BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too large');
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);

/** What the /verify decision reads of an MCP POST: its MCP headers, and its body if it is JSON. */
export function mcpRequest(headers: IncomingHttpHeaders, body: Buffer): { headers: McpRequestHeaders; body: unknown } {
  let parsed: unknown;
  try {
    parsed = body.length ? JSON.parse(body.toString('utf8')) : undefined;
  } catch {
    parsed = undefined; // not JSON: the service answers that
  }
  return {
    headers: {
      protocolVersion: one(headers['mcp-protocol-version']),
      method: one(headers['mcp-method']),
      name: one(headers['mcp-name']),
    },
    body: parsed,
  };
}

/** A request that has a body to read (RFC 9112 §6.3: a length, or a transfer coding). */
export const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
