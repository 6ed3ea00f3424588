/**
 * Which era a POST without a session belongs to, decided as the SDK decides it (its
 * `classifyInboundRequest`, what its `isLegacyRequest` reads) on the body already read, without a
 * second web `Request`: anything not of the 2025 revisions is the 2026-07-28 handler's, to serve or
 * to refuse. One place for the stdio proxy (proxy/src/http.ts) and the native services
 * (http-service.ts).
 */
import type { IncomingMessage } from 'node:http';
import { classifyInboundRequest } from '@modelcontextprotocol/server';

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function isModernPost(req: IncomingMessage, body: unknown): boolean {
  return (
    classifyInboundRequest({
      httpMethod: 'POST',
      protocolVersionHeader: one(req.headers['mcp-protocol-version']),
      mcpMethodHeader: one(req.headers['mcp-method']),
      mcpNameHeader: one(req.headers['mcp-name']),
      body,
    }).kind !== 'legacy'
  );
}
