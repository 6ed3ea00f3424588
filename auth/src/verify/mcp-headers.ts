/**
 * The MCP request headers must say what the body says (MCP 2026-07-28, basic/transports
 * "Standard Request Headers", SEP-2243): `Mcp-Method` is the body's `method`, `Mcp-Name` the
 * `params.name` of tools/call and prompts/get and the `params.uri` of resources/read, and
 * `MCP-Protocol-Version` the envelope's version. They are what the gateway's policy and logs
 * read, so every edge refuses a request whose headers disagree with its body, before any
 * service sees it: 400 with the JSON-RPC error `-32020` (HEADER_MISMATCH), as a 2026-07-28
 * server itself answers. Part of the /verify decision (decision.ts), so each edge enforces it:
 * the local edge hands the decision the body it read, Traefik's forwardAuth its `forwardBody`.
 *
 * What is checked, for a POST whose body is one JSON-RPC request or notification:
 *   - a present `Mcp-Method` or `Mcp-Name` must equal what the body says (any revision: a
 *     header that lies is refused even from a 2025 client, which has no reason to send one);
 *     `Mcp-Name` values in the `=?base64?…?=` form are decoded first;
 *   - a request of 2026-07-28 or later (the `_meta` envelope's protocol version, or the
 *     `MCP-Protocol-Version` header) must carry `Mcp-Method`, and `Mcp-Name` when the body names
 *     something;
 *   - the `MCP-Protocol-Version` header and the envelope's version must agree.
 * Everything else about the body (its JSON, the envelope's other keys) is the service's to judge.
 */
import { PROTOCOL_VERSION_META_KEY } from '@modelcontextprotocol/server';

/** The first revision with per-request headers (and no `initialize`). */
const FIRST_MODERN = '2026-07-28';

/** The body field `Mcp-Name` mirrors, by method (SEP-2243 "Required For"; tasks: SEP-2663). */
const NAME_SOURCE: Readonly<Record<string, string>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

/** JSON-RPC error code of a header/body disagreement (MCP 2026-07-28 schema, HEADER_MISMATCH). */
export const HEADER_MISMATCH = -32020;

export interface McpRequestHeaders {
  protocolVersion?: string;
  method?: string;
  name?: string;
}

export interface HeaderMismatch {
  jsonrpc: '2.0';
  id: string | number | null;
  error: { code: typeof HEADER_MISMATCH; message: string; data: { mismatch: { header: string; body: string } } };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** RFC 9110 §5.5: optional whitespace around a field value is not part of it. */
const trim = (v: string | undefined) => v?.replace(/^[ \t]+|[ \t]+$/g, '');

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A header value as text: `=?base64?…?=` decoded (invalid Base64 or UTF-8: undefined). */
function decoded(value: string): string | undefined {
  if (!(value.startsWith('=?base64?') && value.endsWith('?='))) return value;
  const b64 = value.slice(9, -2);
  if (!BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

function mismatch(id: unknown, header: string, body: string, message: string): HeaderMismatch {
  return {
    jsonrpc: '2.0',
    id: typeof id === 'string' || typeof id === 'number' ? id : null,
    error: {
      code: HEADER_MISMATCH,
      message: `Bad Request: the request headers and body disagree: ${message}`,
      data: { mismatch: { header, body } },
    },
  };
}

/** The refusal for a POST body whose MCP headers disagree with it; undefined when they agree. */
export function headerMismatch(raw: McpRequestHeaders, body: unknown): HeaderMismatch | undefined {
  if (!isObject(body) || typeof body.method !== 'string') return undefined;
  const headers = { protocolVersion: trim(raw.protocolVersion), method: trim(raw.method), name: trim(raw.name) };
  const { method, id } = body;
  const meta = isObject(body.params) && isObject(body.params._meta) ? body.params._meta : undefined;
  const claimed = meta?.[PROTOCOL_VERSION_META_KEY];
  const version = typeof claimed === 'string' ? claimed : undefined;

  if (headers.method !== undefined && headers.method !== method) {
    return mismatch(
      id,
      headers.method,
      method,
      `the body names method ${method}, the Mcp-Method header ${headers.method}`,
    );
  }
  if (version !== undefined && headers.protocolVersion !== undefined && version !== headers.protocolVersion) {
    return mismatch(
      id,
      headers.protocolVersion,
      version,
      `the body's envelope names protocol version ${version}, the MCP-Protocol-Version header ${headers.protocolVersion}`,
    );
  }
  const modern = (version ?? headers.protocolVersion ?? '') >= FIRST_MODERN;
  // Only requests carry the required headers; a notification has nothing more to check.
  if (modern && 'id' in body && headers.method === undefined) {
    return mismatch(id, '(missing)', method, `the body names method ${method} but the Mcp-Method header is absent`);
  }
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method]! : undefined;
  const named = field && isObject(body.params) ? body.params[field] : undefined;
  if (field === undefined || typeof named !== 'string') return undefined;
  if (headers.name === undefined) {
    if (!modern || !('id' in body)) return undefined;
    return mismatch(id, '(missing)', named, `the body names ${field} "${named}" but the Mcp-Name header is absent`);
  }
  const name = decoded(headers.name);
  if (name !== named) {
    return mismatch(
      id,
      headers.name,
      named,
      name === undefined
        ? 'the Mcp-Name header is not valid Base64'
        : `the body names ${field} "${named}", the Mcp-Name header "${name}"`,
    );
  }
  return undefined;
}
