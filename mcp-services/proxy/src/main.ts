/**
 * mcp-proxy: serves a stdio MCP server over Streamable HTTP, one server process per session.
 *
 *   node mcp-services/proxy/src/main.ts -- npx -y @modelcontextprotocol/server-everything
 *   MCP_PROXY_COMMAND='["npx","-y","@modelcontextprotocol/server-everything"]' node mcp-services/proxy/src/main.ts
 *
 * Settings: see mcp-services/proxy/README.md.
 */
import { pino } from 'pino';
import { startupEdgeSecret } from '../../shared/edge-guard.ts';
import { endWithParent } from '../../shared/parent.ts';
import { ConfigError, loadConfig } from './config.ts';
import { startProxy } from './proxy.ts';

let config;
try {
  config = loadConfig(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`mcp-proxy: ${err.message}\n`);
  process.exit(2);
}

const logger = pino({
  level: config.logLevel,
  base: { component: 'mcp-proxy', service: config.serviceName },
  timestamp: pino.stdTimeFunctions.isoTime,
});
// MCP_EDGE_SECRET: required off loopback (exit 78 without it), and out of the environment from here on.
config.edgeSecret = startupEdgeSecret(process.env, config.host, 'mcp-proxy', logger);

const proxy = await startProxy(config, logger);
logger.info({ url: proxy.url, command: config.command[0] }, 'listening');

async function shutdown(signal: string): Promise<void> {
  logger.info({ signal, sessions: proxy.sessions.size }, 'shutting down');
  await proxy.close();
  logger.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
// Started by `npm start`: when the gateway is gone, so is this proxy, and with it its servers. No
// orderly stop: nobody reads this process's output any more, and a log line written to the dead
// pipe would never return (sonic-boom retries EPIPE in its synchronous flush).
endWithParent(() => {
  logger.level = 'silent';
  proxy.sessions.killAll();
  proxy.pool.killAll();
  process.kill(process.pid, 'SIGKILL');
});
// Whatever way the process ends, no server it started outlives it.
process.on('exit', () => {
  proxy.sessions.killAll();
  proxy.pool.killAll();
});
