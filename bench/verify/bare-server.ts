/**
 * The ceiling: a bare node:http server answering every request 200 with an empty body. Same
 * runtime, same loopback, same load as the auth service, with none of its work.
 *   node bench/verify/bare-server.ts <port>
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
createServer((_req, res) => {
  res.writeHead(200, { 'content-length': 0 });
  res.end();
}).listen(port, '127.0.0.1');

// Started by run.ts with an IPC channel: gone with it, even if it dies without cleaning up.
process.on('disconnect', () => process.exit(0));
