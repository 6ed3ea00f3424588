/**
 * The auth service alone, as it runs in the Compose stack behind Traefik: OAuth, pages,
 * /verify for ForwardAuth, /health. (`npm start` runs auth/src/embedded.ts instead.)
 */
import { createServer } from 'node:http';
import { answerClientErrors } from '../../contracts/client-errors.ts';
import { limitLogOf } from '../../contracts/limit-log.ts';
import { boot, localLoginText, onShutdown } from './boot.ts';
import { writeAfterLogs } from './log.ts';

const { config, logger, store, service } = await boot();
// Requests the HTTP parser refuses (headers over 16 KiB: 431) get an OAuth error, logged once.
const server = answerClientErrors(createServer(service.handler), 'oauth', limitLogOf(logger));
// Traefik keeps an idle connection to a backend for 90 s (serversTransport idleConnTimeout; its
// ForwardAuth client, Go's default transport, likewise). The side that closes an idle connection
// must be Traefik, or it may send a request (every /verify) on a connection the moment auth closes
// it, and the request fails (RFC 9112 §9.5: a close racing a request loses that request). Node's
// default keep-alive is 5 s: outlive Traefik's, with the headers timeout just above it.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(config.port, config.host, () => {
  logger.info({ url: config.publicUrl, listen: `${config.host}:${config.port}` }, 'auth service listening');
  for (const s of config.services) logger.info({ mcpService: s.name, url: s.resource }, 'MCP service');
  writeAfterLogs(logger, localLoginText(service));
});
onShutdown(logger, async () => {
  server.close();
  server.closeAllConnections();
  await service.close();
  await store.close();
});
