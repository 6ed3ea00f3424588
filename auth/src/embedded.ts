/**
 * `npm start`: the whole gateway on one machine without Docker — the auth service, every
 * enabled MCP service as its own process, and an in-process edge on PORT that applies the
 * same /verify decision Traefik asks for in the Compose stack.
 *
 * `npm run start:caddy` (`--edge=caddy`): the same, with Caddy as the edge instead (Debian's
 * caddy, found on PATH). The auth service then listens on a free loopback port of its own (its
 * /verify included), and Caddy on PORT runs the configuration generated from the route table and
 * the chain (edge/caddy.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors } from '../../contracts/client-errors.ts';
import { limitLogOf } from '../../contracts/limit-log.ts';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';
import type { AuthService } from './app.ts';
import { boot, localLoginText, onShutdown } from './boot.ts';
import type { Config } from './config/load.ts';
import { findCaddy, startCaddy } from './edge/caddy.ts';
import { startServices } from './edge/children.ts';
import { createEdge } from './edge/edge.ts';
import { writeAfterLogs, type Logger } from './log.ts';

type EdgeKind = 'local' | 'caddy';

function edgeKind(args: string[]): EdgeKind {
  const edge = args.find((a) => a.startsWith('--edge='))?.slice('--edge='.length) ?? 'local';
  const unknown = args.filter((a) => !a.startsWith('--edge='));
  if ((edge !== 'local' && edge !== 'caddy') || unknown.length) {
    process.stderr.write(`usage: embedded.ts [--edge=local|caddy] (got ${args.join(' ')})\n`);
    process.exit(64); // EX_USAGE
  }
  return edge;
}

/** The one "it is up" of both edges: the log line (tests wait for it) and the banner. */
function announceListening(config: Config, service: AuthService, logger: Logger, edge: EdgeKind): void {
  logger.info({ url: config.publicUrl, listen: `${config.host}:${config.port}`, edge }, 'gateway listening');
  const lines = config.services.map((s) => `    ${s.name.padEnd(20)} ${s.resource}`);
  // Last, once every service answered its health check and the edge listens: the lines a person
  // needs are not lost among log lines (log.ts writeAfterLogs).
  writeAfterLogs(
    logger,
    `\n  MCP OAuth Gateway on ${config.publicUrl}\n` +
      (lines.length
        ? `  MCP services (connect your client to these URLs):\n${lines.join('\n')}\n`
        : '  No MCP service enabled: set MCP_<SERVICE>_ENABLED=true in .env\n') +
      (localLoginText(service) || '\n'),
  );
}

async function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

const edge = edgeKind(process.argv.slice(2));
// Before anything starts: without Caddy there is nothing to run.
const caddy = edge === 'caddy' ? findCaddy() : undefined;
if (edge === 'caddy' && !caddy) {
  process.stderr.write("caddy not found on PATH: install Debian's caddy (apt-get install caddy), or use npm start\n");
  process.exit(69); // EX_UNAVAILABLE
}

const { config, logger, store, service } = await boot();
const services = await startServices(config, CATALOGUE, logger).catch((err: unknown) => {
  logger.fatal({ err: err instanceof Error ? err.message : err }, 'MCP services failed to start');
  process.exit(1);
});

let stopEdge: () => Promise<void> = async () => undefined;
async function stopAll(): Promise<void> {
  await stopEdge();
  await services.stop();
  await service.close();
  await store.close();
}
/** A start that failed, or an edge that went away: everything stops, and the exit code says so. */
function fail(msg: string, err?: unknown): Promise<never> {
  logger.fatal(err === undefined ? {} : { err: err instanceof Error ? err.message : err }, msg);
  return stopAll()
    .catch((e: unknown) => logger.error({ err: e }, 'shutdown failed'))
    .then(() => process.exit(1));
}

// Requests the HTTP parser refuses (headers over 16 KiB: 431), answered and logged once.
const limits = limitLogOf(logger);
if (caddy) {
  // The auth service on its own loopback port: Caddy's upstream for its routes and for /verify.
  const auth = answerClientErrors(createServer(service.handler), 'oauth', limits);
  // Longer than Caddy keeps an idle upstream connection (edge/caddy.ts): Caddy closes first.
  auth.keepAliveTimeout = 120_000;
  auth.headersTimeout = 121_000;
  const address = await listen(auth, 0, '127.0.0.1');
  stopEdge = () => closeServer(auth);
  const running = await startCaddy(
    caddy,
    {
      listen: { host: config.host, port: config.port },
      publicUrl: config.publicUrl,
      auth: { host: '127.0.0.1', port: address.port },
      services: services.upstreams,
    },
    logger,
    // Nothing reaches the gateway without its edge.
    (code, signal) => void fail(`Caddy exited (${code ?? signal})`),
  ).catch((err: unknown) => fail('Caddy failed to start', err));
  logger.info({ pid: running.pid, auth: `127.0.0.1:${address.port}` }, 'Caddy started');
  stopEdge = async () => {
    await running.stop();
    await closeServer(auth);
  };
} else {
  const server = answerClientErrors(
    createServer(
      createEdge({
        config,
        decider: service.decider,
        auth: service.app,
        upstreams: services.upstreams,
        ...(service.upstreams ? { remotes: service.upstreams } : {}),
        logger,
      }),
    ),
    'oauth',
    limits,
  );
  // Long-lived SSE streams: no idle timeout on the edge's sockets.
  server.timeout = 0;
  await listen(server, config.port, config.host).catch((err: unknown) => fail('the edge cannot listen', err));
  stopEdge = () => closeServer(server);
}
announceListening(config, service, logger, edge);
onShutdown(logger, stopAll);
