/**
 * A native service's handler (mcp-services/shared/http-service.ts) on a loopback port, in-process,
 * without an edge secret (loopback only): what the service tests talk to.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEchoServer } from '../../mcp-services/shared/echo.ts';
import { createServiceHandler, type ServiceOptions } from '../../mcp-services/shared/http-service.ts';

export async function serveService(options: ServiceOptions): Promise<{ url: URL; close(): Promise<void> }> {
  const server = createServer(createServiceHandler(options));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** echo-stateful (sessions), served as above. */
export const serveEchoStateful = () =>
  serveService({
    name: 'echo-stateful',
    create: () => createEchoServer('echo-stateful', { stateful: true }),
    stateful: true,
  });
