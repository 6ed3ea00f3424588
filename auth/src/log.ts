/**
 * Structured logs (pino). Secrets never reach a log line: the redact list names every place
 * a token, secret or cookie could appear, and code logs reasons, not values.
 */
import { pino, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'cookie',
  'password',
  'token',
  'access_token',
  'refresh_token',
  'client_secret',
  'code',
  'code_verifier',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  '*.code',
  '*.code_verifier',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** How log lines are written: JSON lines, or pino-pretty's human-readable lines for a terminal. */
export type LogFormat = 'json' | 'pretty';

/** LOG_FORMAT's `auto`: readable on a terminal, JSON everywhere else (containers, pipes, CI). */
export function resolveLogFormat(setting: string | undefined, isTTY = Boolean(process.stdout.isTTY)): LogFormat {
  if (setting === 'json' || setting === 'pretty') return setting;
  return isTTY ? 'pretty' : 'json';
}

function prettyStream(): pino.DestinationStream {
  // Loaded only for a terminal: containers and CI never need it.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  // In process and synchronous, so lines and the startup banner come out in the order written.
  return pretty({
    sync: true,
    colorize: Boolean(process.stdout.isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component,mcpService',
    messageFormat: '{if mcpService}[{mcpService}] {end}{msg}',
  });
}

export function createLogger(
  level: string = 'info',
  destination?: pino.DestinationStream,
  format: LogFormat = 'json',
): Logger {
  return pino(
    {
      level,
      base: { component: 'auth' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? (format === 'pretty' ? prettyStream() : pino.destination({ dest: 1, sync: true })),
  );
}

/**
 * Writes text to stdout after every log line written before it: the startup banner comes last.
 */
export function writeAfterLogs(logger: Logger, text: string): void {
  logger.flush();
  process.stdout.write(text);
}
