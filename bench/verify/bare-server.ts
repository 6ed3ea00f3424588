/**
 * The ceiling: a bare node:http server answering every request 200 with an empty body. Same
 * runtime, same loopback, same load as the auth service, with none of its work.
 *   node bench/verify/bare-server.ts <port> [batched]
 * `batched` writes the answers of one event-loop turn together at its end (setImmediate), as
 * /verify does (auth/src/verify/handler.ts): what that technique alone is worth, for reference.
 */
import { createServer, type ServerResponse } from 'node:http';

const port = Number(process.argv[2]);
const batched = process.argv[3] === 'batched';
const answer = (res: ServerResponse) => {
  res.writeHead(200, { 'content-length': 0 });
  res.end();
};
let queue: ServerResponse[] = [];
const flush = () => {
  const batch = queue;
  queue = [];
  for (const res of batch) answer(res);
};
createServer((_req, res) => {
  if (!batched) return answer(res);
  if (queue.push(res) === 1) setImmediate(flush);
}).listen(port, '127.0.0.1');

// Started by run.ts with an IPC channel: gone with it, even if it dies without cleaning up.
process.on('disconnect', () => process.exit(0));
