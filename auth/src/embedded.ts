/**
 * `npm start`: the whole gateway on one machine without Docker — the auth service, every
 * enabled MCP service as its own process, and an in-process edge on PORT that applies the
 * same /verify decision Traefik asks for in the Compose stack.
 */
import { createServer } from 'node:http';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';
import { boot, onShutdown, printLocalLogin } from './boot.ts';
import { startServices } from './edge/children.ts';
import { createEdge } from './edge/edge.ts';

const { config, logger, store, service } = await boot();
const services = await startServices(config, CATALOGUE, logger).catch((err: unknown) => {
  logger.fatal({ err: err instanceof Error ? err.message : err }, 'MCP services failed to start');
  process.exit(1);
});
const edge = createEdge({ config, decider: service.decider, auth: service.app, upstreams: services.upstreams, logger });
const server = createServer(edge);
// Long-lived SSE streams: no idle timeout on the edge's sockets.
server.timeout = 0;
server.listen(config.port, config.host, () => {
  logger.info({ url: config.publicUrl, listen: `${config.host}:${config.port}` }, 'gateway listening');
  const lines = config.services.map((s) => `    ${s.name.padEnd(20)} ${s.resource}`);
  process.stdout.write(
    `\n  MCP OAuth Gateway on ${config.publicUrl}\n` +
      (lines.length
        ? `  MCP services (connect your client to these URLs):\n${lines.join('\n')}\n`
        : '  No MCP service enabled: set MCP_<SERVICE>_ENABLED=true in .env\n'),
  );
  printLocalLogin(service);
});
onShutdown(logger, async () => {
  server.close();
  server.closeAllConnections();
  await services.stop();
  await service.close();
  await store.close();
});
