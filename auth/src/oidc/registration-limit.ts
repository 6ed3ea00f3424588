/**
 * Registrations per address (REGISTRATION_LIMIT): RFC 7591 lets anyone register a client, and
 * every client is kept in storage for CLIENT_LIFETIME, so one address may register at most so many
 * per hour (RFC 7591 §5: the server MAY rate-limit registration). Counted in storage, so every
 * replica counts together; over the limit, 429 with Retry-After (RFC 6585 §4) and an OAuth-shaped
 * body, and one log line per address and hour. Loopback addresses are not counted: that is
 * `npm start` on one machine, whose clients all register from 127.0.0.1. Traefik's own rate
 * limit (traefik/dynamic) bounds the pace in front of this; this bounds the total, at every edge.
 */
import type { Request } from 'express';
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import { TooManyRequestsError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { registrationCountKey } from '../storage/keys.ts';
import type { Store } from '../storage/store.ts';

const HOUR = 3600;

export function registrationLimit(store: Store, limit: number, logger: Logger) {
  return async function registrationLimited(req: Request): Promise<void> {
    // `req.ip`: the client's address as the edge saw it (X-Forwarded-For when TRUST_PROXY is on).
    const address = (req.ip ?? '').replace(/^::ffff:/, '');
    if (limit === 0 || !address || isLoopbackHost(address)) return;
    const now = Math.floor(Date.now() / 1000);
    const hour = Math.floor(now / HOUR);
    const count = await store.increment(registrationCountKey(address, hour), HOUR);
    if (count <= limit) return;
    if (count === limit + 1) {
      logger.warn({ address, limit }, 'registration limit reached for this address; refused until the hour ends');
    }
    const retryAfter = (hour + 1) * HOUR - now;
    throw new TooManyRequestsError(
      `too many client registrations from this address (at most ${limit} an hour); try again in ${retryAfter} s`,
      retryAfter,
    );
  };
}
