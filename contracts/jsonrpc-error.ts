/**
 * The one shape in which every MCP endpoint here refuses a request: a JSON-RPC 2.0 error response
 * (JSON-RPC 2.0 §5 and §5.1, https://www.jsonrpc.org/specification), sent with the HTTP status the
 * MCP transport calls for. -32000 to -32099 are the implementation-defined server errors.
 */
import type { ServerResponse } from 'node:http';

/** JSON-RPC 2.0 §5: the request's id when it could be read (a string or a number), else null. */
export function responseId(id: unknown): string | number | null {
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

export interface JsonRpcErrorResponse {
  jsonrpc: '2.0';
  error: { code: number; message: string };
  id: string | number | null;
}

export function jsonRpcError(code: number, message: string, id: unknown = null): JsonRpcErrorResponse {
  return { jsonrpc: '2.0', error: { code, message }, id: responseId(id) };
}

export function jsonRpcErrorBody(code: number, message: string, id: unknown = null): string {
  return JSON.stringify(jsonRpcError(code, message, id));
}

export function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  id: unknown = null,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(jsonRpcErrorBody(code, message, id));
}
