/**
 * Limits are logged once: the first refusal of a limit for a key (a user, a session, an address)
 * is a warning; later ones within the interval are only counted, and the next warning says how
 * many were not logged. A client hammering a limit cannot flood the log, and an operator still
 * sees every limit that is being reached, by whom, and how often.
 */

/** Any logger with pino's `warn(fields, message)`. */
export interface LimitLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Ten minutes. */
export const LIMIT_LOG_INTERVAL_MS = 600_000;
/** Keys remembered at most (oldest forgotten first): the log-once memory is bounded too. */
const MAX_KEYS = 10_000;

export class LimitLog {
  readonly #log: LimitLogger;
  readonly #intervalMs: number;
  readonly #seen = new Map<string, { at: number; notLogged: number }>();

  constructor(log: LimitLogger, intervalMs = LIMIT_LOG_INTERVAL_MS) {
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** A request was refused (or a stream ended) by `limit`, for `key`. */
  hit(limit: string, key: string, fields: Record<string, unknown> = {}, now = Date.now()): void {
    const id = `${limit}\u0000${key}`;
    const seen = this.#seen.get(id);
    if (seen && now - seen.at < this.#intervalMs) {
      seen.notLogged++;
      return;
    }
    this.#seen.delete(id);
    if (this.#seen.size >= MAX_KEYS) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(id, { at: now, notLogged: 0 });
    const since = seen?.notLogged ? { notLoggedSince: seen.notLogged } : {};
    this.#log.warn({ limit, key, ...fields, ...since }, `limit reached: ${limit}`);
  }
}

const shared = new WeakMap<LimitLogger, LimitLog>();

/** The one LimitLog of a logger: places that refuse by the same limit share its memory. */
export function limitLogOf(log: LimitLogger): LimitLog {
  let limits = shared.get(log);
  if (!limits) shared.set(log, (limits = new LimitLog(log)));
  return limits;
}
