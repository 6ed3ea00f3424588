/**
 * MCP headers held to the body (auth/src/verify/mcp-headers.ts, SEP-2243): what each edge refuses
 * before any service sees it, and what it lets through for the service to judge.
 */
import { headerMismatch, HEADER_MISMATCH } from '../../auth/src/verify/mcp-headers.ts';

const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' };
const call = (name: unknown, meta: Record<string, unknown> | null = envelope) => ({
  jsonrpc: '2.0',
  id: 3,
  method: 'tools/call',
  params: { name, arguments: {}, ...(meta ? { _meta: meta } : {}) },
});
const b64 = (s: string) => `=?base64?${Buffer.from(s).toString('base64')}?=`;

test.each([
  ['true headers', { method: 'tools/call', name: 'echo' }, call('echo')],
  ['Base64 name', { method: 'tools/call', name: b64('écho ✓') }, call('écho ✓')],
  ['optional whitespace around values', { method: ' tools/call\t', name: ' echo ' }, call('echo')],
  ['a 2025 request without the headers', {}, call('echo', null)],
  ['a 2025 request with true headers', { method: 'tools/call', name: 'echo' }, call('echo', null)],
  [
    'a method that names nothing',
    { method: 'tools/list' },
    { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope } },
  ],
  [
    'resources/read names its uri',
    { method: 'resources/read', name: 'file:///a' },
    { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///a', _meta: envelope } },
  ],
  [
    'a modern notification without Mcp-Method',
    {},
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { _meta: envelope } },
  ],
  ['a body that is not JSON-RPC: the service judges it', { method: 'x' }, [1, 2]],
  ['a name that is not a string: the service judges it', { method: 'tools/call' }, call(42)],
])('passes: %s', (_what, headers, body) => {
  expect(headerMismatch(headers, body)).toBeUndefined();
});

test.each([
  ['Mcp-Name forged', { method: 'tools/call', name: 'echo' }, call('rm')],
  ['Mcp-Name absent', { method: 'tools/call' }, call('echo')],
  ['Mcp-Method forged', { method: 'tools/list', name: 'echo' }, call('echo')],
  ['Mcp-Method absent', { name: 'echo' }, call('echo')],
  ['Mcp-Name not canonical Base64', { method: 'tools/call', name: '=?base64?ZWNobw?=' }, call('echo')],
  ['Mcp-Name Base64 of bytes that are not UTF-8', { method: 'tools/call', name: '=?base64?/w==?=' }, call('echo')],
  [
    'MCP-Protocol-Version not the envelope’s',
    { protocolVersion: '2025-11-25', method: 'tools/call', name: 'echo' },
    call('echo'),
  ],
  [
    'a modern header on a body without the envelope',
    { protocolVersion: '2026-07-28', name: 'echo' },
    call('echo', null),
  ],
  ['a 2025 request whose Mcp-Method lies', { method: 'tools/list' }, call('echo', null)],
  ['a 2025 request whose Mcp-Name lies', { name: 'other' }, call('echo', null)],
])('refused: %s', (_what, headers, body) => {
  const refusal = headerMismatch(headers, body);
  expect(refusal).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code: HEADER_MISMATCH } });
  expect(refusal!.error.message).toMatch(/^Bad Request: the request headers and body disagree: /);
});
