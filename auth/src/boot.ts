/**
 * What both entry points do first: `.env` → validated config (or every problem, and exit 78)
 * → logger → storage → the auth service; and the startup notes an operator must see once.
 */
import dotenv from 'dotenv';
import { createAuthService, type AuthService } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config/load.ts';
import { describeRules } from './identity/allowlist.ts';
import { createLogger, type Logger } from './log.ts';
import { createStore, RedisStore } from './storage/index.ts';
import { StorageUnavailable } from './storage/redis.ts';
import type { Store } from './storage/store.ts';

export interface Booted {
  config: Config;
  logger: Logger;
  store: Store;
  service: AuthService;
}

function announce(config: Config, logger: Logger) {
  for (const name of config.dangerous)
    logger.warn({ setting: name }, `${name} is on: this weakens the gateway's security`);
  if (config.github || config.oidc) {
    const allowed = describeRules(config.rules);
    if (config.github) logger.info({ allowed: allowed.join(', ') || 'nobody' }, 'GitHub login enabled');
    if (config.oidc)
      logger.info(
        { issuer: config.oidc.issuer, allowed: allowed.join(', ') || 'nobody' },
        'OpenID Connect login enabled',
      );
    if (allowed.length === 0) {
      logger.warn(
        'ALLOWED_GITHUB_USERS is empty: nobody can log in. List GitHub logins (or write * to allow everyone), or set ALLOWED_GITHUB_ORGS, ALLOWED_GITHUB_TEAMS, ALLOWED_EMAILS, ALLOWED_EMAIL_DOMAINS or ALLOWED_GROUPS.',
      );
    }
  }
  if (!config.redis) logger.info('REDIS_URL is not set: state is kept in memory and lost at restart');
  if (config.services.length === 0) logger.warn('no MCP service is enabled: set MCP_<SERVICE>_ENABLED=true');
  if (config.publicUrl.startsWith('https:') && !config.trustProxy) {
    logger.warn(
      'PUBLIC_URL is https but TRUST_PROXY is off: serve TLS in front and set TRUST_PROXY=true, or cookies cannot be set',
    );
  }
}

export async function boot(env: NodeJS.ProcessEnv = process.env): Promise<Booted> {
  // DOTENV_CONFIG_PATH picks another file (tests use it to ignore a developer's .env).
  dotenv.config({ quiet: true, path: env.DOTENV_CONFIG_PATH ?? '.env' });
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee docs/configuration.md and .env.example.\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  announce(config, logger);
  const store = createStore({ redis: config.redis }, logger);
  await storageReady(store, logger);
  const service = await createAuthService({ config, store, logger });
  // Remote MCP servers the gateway could never become a client of stop the start, as any setting does.
  const problems = (await service.upstreams?.startupProblems(logger)) ?? [];
  if (problems.length) {
    logger.flush();
    process.stderr.write(`${new ConfigError(problems).message}\nSee docs/upstreams.md and docs/configuration.md.\n`);
    await store.close().catch(() => undefined);
    process.exit(78); // EX_CONFIG
  }
  return { config, logger, store, service };
}

/** A starting gateway asks Redis again after 1 s, then twice as long each time, at most this long. */
export const STORAGE_RETRY_MAX_MS = 30_000;

/**
 * Redis answers before anything reads from it. Unreachable: one line says which URL and what to
 * check, and the gateway waits for it, trying again with backoff (a Compose stack starts them
 * together; Redis may restart), saying so again at each longer wait. Refusing the credentials:
 * one line, and the process exits 78 as for any other setting that cannot work (EX_CONFIG).
 */
async function storageReady(store: Store, logger: Logger): Promise<void> {
  if (!(store instanceof RedisStore)) return;
  let wait = 1000;
  let said = false;
  for (;;) {
    try {
      await store.connected(wait, (message) => !said && logger.info(message));
      if (said) logger.info('storage reachable: starting');
      return;
    } catch (err) {
      if (!(err instanceof StorageUnavailable)) throw err;
      if (err.kind === 'credentials') {
        logger.flush();
        process.stderr.write(`${err.message}\n`);
        await store.close().catch(() => undefined);
        process.exit(78); // EX_CONFIG
      }
      // One line says it; then a reminder only at each longest wait (every 30 s), no stack trace.
      const next = Math.min(wait * 2, STORAGE_RETRY_MAX_MS);
      if (!said) logger.warn({ retryInSeconds: next / 1000 }, `${err.message} Retrying with backoff.`);
      else if (wait === STORAGE_RETRY_MAX_MS) logger.warn(`still waiting for storage: ${err.message}`);
      else logger.debug({ retryInSeconds: next / 1000 }, 'storage still unreachable');
      said = true;
      wait = next;
    }
  }
}

/** The local user's password, printed once on the terminal of whoever started the gateway. */
export function localLoginText(service: AuthService): string {
  const local = service.identities.local;
  return local
    ? `\n  Sign in as "${local.login}" with the password: ${local.password}\n  (valid until the gateway stops)\n\n`
    : '';
}

/** Runs `stop` once on SIGINT/SIGTERM, then exits. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop()
      .catch((err: unknown) => logger.error({ err }, 'shutdown failed'))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
