/**
 * A raw MCP 2026-07-28 request, as a client pinned to that revision sends it: the `_meta` envelope
 * (protocol version, client info, capabilities) and the `MCP-Protocol-Version`, `Mcp-Method` and
 * (for what names something) `Mcp-Name` headers; for the tests that need the wire itself.
 */
export function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  options: {
    id?: number;
    version?: string;
    capabilities?: Record<string, unknown>;
    headers?: Record<string, string>;
  } = {},
): RequestInit {
  const version = options.version ?? '2026-07-28';
  const name = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : undefined;
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': version,
      'mcp-method': method,
      ...(name !== undefined ? { 'mcp-name': name } : {}),
      ...options.headers,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: options.id ?? 1,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': version,
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
        },
      },
    }),
  };
}
