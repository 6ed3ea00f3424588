/**
 * The remote MCP server of bench/upstream: a bare node:http server that answers every POST to /mcp
 * with the same small JSON-RPC result, so that the bench measures the gateway, not the server. A
 * request that carries an Authorization must carry `Bearer $BENCH_UPSTREAM_TOKEN` (else 401, counted
 * at GET /refused); the baseline service sends none.
 *   PORT=… BENCH_UPSTREAM_TOKEN=… node bench/upstream/upstream-server.ts
 */
import { createServer } from 'node:http';

const token = `Bearer ${process.env.BENCH_UPSTREAM_TOKEN ?? ''}`;
const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [] } });
let refused = 0;

createServer((req, res) => {
  if (req.url === '/refused') return void res.writeHead(200).end(String(refused));
  const authorization = req.headers.authorization;
  req.resume();
  req.on('end', () => {
    if (authorization !== undefined && authorization !== token) {
      refused++;
      return void res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
