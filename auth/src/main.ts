/**
 * The auth service alone, as it runs in the Compose stack behind Traefik: OAuth, pages,
 * /verify for ForwardAuth, /health. (`npm start` runs auth/src/embedded.ts instead.)
 */
import { createServer } from 'node:http';
import { boot, onShutdown, printLocalLogin } from './boot.ts';

const { config, logger, store, service } = await boot();
const server = createServer(service.handler);
server.listen(config.port, config.host, () => {
  logger.info({ url: config.publicUrl, listen: `${config.host}:${config.port}` }, 'auth service listening');
  for (const s of config.services) logger.info({ mcpService: s.name, url: s.resource }, 'MCP service');
  printLocalLogin(service);
});
onShutdown(logger, async () => {
  server.close();
  server.closeAllConnections();
  await service.close();
  await store.close();
});
