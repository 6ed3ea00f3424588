/** The proxy as a whole: an HTTP server over the session manager, and its orderly stop. */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { answerClientErrors } from '../../../contracts/client-errors.ts';
import { LimitLog } from '../../../contracts/limit-log.ts';
import { applyKeepAlive } from '../../shared/keep-alive.ts';
import { childBaseEnv, type ProxyConfig } from './config.ts';
import { createHandler } from './http.ts';
import { createSessionManager, type SessionManager } from './sessions.ts';
import { ModernPool } from './modern.ts';

export interface RunningProxy {
  server: Server;
  /** `http://host:port/mcp` */
  url: string;
  port: number;
  sessions: SessionManager;
  /** The children of 2026-07-28 clients, and their calls waiting for answers. */
  pool: ModernPool;
  /** Stops accepting, ends every session and waits until every child has exited. */
  close(): Promise<void>;
}

export async function startProxy(
  config: ProxyConfig,
  logger: Logger,
  env: Record<string, string | undefined> = process.env,
): Promise<RunningProxy> {
  // Every limit's refusals, logged once per limit and key (contracts/limit-log.ts).
  const limits = new LimitLog(logger);
  const sessions = createSessionManager(config, childBaseEnv(env), logger, limits);
  // 2026-07-28 clients: one initialized child per user (modern.ts).
  const pool = new ModernPool(config, childBaseEnv(env), logger, limits);
  const handler = createHandler(config, sessions, pool, logger, limits);
  const server = answerClientErrors(applyKeepAlive(createServer(handler)), 'jsonrpc', limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as { port: number };
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    const stopped = new Promise((resolve) => server.close(resolve));
    await Promise.all([sessions.closeAll(), pool.close()]);
    server.closeAllConnections();
    await stopped;
  }
  return { server, url: `http://${host}:${port}/mcp`, port, sessions, pool, close: () => (closing ??= close()) };
}
