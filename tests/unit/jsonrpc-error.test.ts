/**
 * contracts/jsonrpc-error.ts: the one JSON-RPC error response every MCP endpoint here refuses
 * with. JSON-RPC 2.0 §5: the id is the request's when it is a string or a number, else null.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonRpcError, jsonRpcErrorBody, sendJsonRpcError } from '../../contracts/jsonrpc-error.ts';

test.each([
  ['a string id', 'abc', 'abc'],
  ['a number id', 7, 7],
  ['no id', undefined, null],
  ['an object for an id', { x: 1 }, null],
  ['an array for an id', [1], null],
  ['a boolean for an id', true, null],
])('%s', (_, id, expected) => {
  expect(jsonRpcError(-32000, 'no', id)).toEqual({
    jsonrpc: '2.0',
    error: { code: -32000, message: 'no' },
    id: expected,
  });
  expect(JSON.parse(jsonRpcErrorBody(-32600, 'bad', id))).toEqual({
    jsonrpc: '2.0',
    error: { code: -32600, message: 'bad' },
    id: expected,
  });
});

test('sent with its status, JSON content type and the extra headers', async () => {
  const server: Server = createServer((_, res) =>
    sendJsonRpcError(res, 429, -32000, 'busy', 3, { 'retry-after': '1' }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; type: string; retry: string; body: string }>(
      (resolve, reject) => {
        request({ port, host: '127.0.0.1', method: 'POST' }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              type: String(res.headers['content-type']),
              retry: String(res.headers['retry-after']),
              body,
            }),
          );
        })
          .on('error', reject)
          .end();
      },
    );
    expect(answer).toEqual({
      status: 429,
      type: 'application/json',
      retry: '1',
      body: '{"jsonrpc":"2.0","error":{"code":-32000,"message":"busy"},"id":3}',
    });
  } finally {
    server.close();
  }
});
