/**
 * Starts the real auth service on a free loopback port (in-process, real HTTP), with memory or
 * Redis storage and the GitHub stand-in, and captures its structured logs for assertions.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createAuthService, type AuthService } from '../../auth/src/app.ts';
import { loadConfig, type Config } from '../../auth/src/config/load.ts';
import { LocalUser } from '../../auth/src/identity/local.ts';
import { createLogger } from '../../auth/src/log.ts';
import { createStore } from '../../auth/src/storage/index.ts';
import type { Store } from '../../auth/src/storage/store.ts';
import type { GitHubStandin } from './github-standin.ts';

export interface RunningAuth {
  url: string;
  config: Config;
  service: AuthService;
  store: Store;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  /** Every log line as written (to search for leaked secrets). */
  rawLogs: string[];
  server: Server;
  stop(): Promise<void>;
}

export interface AuthOptions {
  env?: Record<string, string>;
  github?: GitHubStandin;
  redisUrl?: string;
  /** Share a store between two instances (replicas); not closed by stop(). */
  store?: Store;
  localPassword?: string;
  fetch?: typeof fetch;
  /** Listen on this port (a restarted instance keeps its issuer); 0 = any. */
  port?: number;
  /** The OpenID Connect provider's discovery retry and JWKS refetch timings. */
  oidcTimings?: { retryMs?: number; jwksCooldownMs?: number };
}

export async function startAuth(options: AuthOptions = {}): Promise<RunningAuth> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PUBLIC_URL: url,
    PORT: String(port),
    MCP_ECHO_ENABLED: 'true',
    ...(options.github
      ? {
          GITHUB_CLIENT_ID: options.github.clientId,
          GITHUB_CLIENT_SECRET: options.github.clientSecret,
          GITHUB_BASE_URL: options.github.baseUrl,
          GITHUB_API_URL: options.github.apiUrl,
          ALLOWED_GITHUB_USERS: 'octocat',
        }
      : {}),
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl, REDIS_KEY_PREFIX: `t${port}:` } : {}),
    ...options.env,
  };
  const config = loadConfig(env);
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      const line = String(chunk);
      rawLogs.push(line);
      logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const store = options.store ?? createStore({ redis: config.redis }, logger);
  const service = await createAuthService({
    config,
    store,
    logger,
    localUser: config.localUser
      ? new LocalUser({ password: options.localPassword ?? 'correct horse battery' })
      : undefined,
    fetch: options.fetch,
    ...(options.oidcTimings ? { oidcTimings: options.oidcTimings } : {}),
  });
  server.on('request', service.handler);
  return {
    url,
    config,
    service,
    store,
    logs,
    rawLogs,
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
      if (!options.store) await store.close();
    },
  };
}
