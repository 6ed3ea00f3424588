/**
 * Storage that cannot be reached is a state of the world, not a bug: every request that needs it
 * is answered 503 temporarily_unavailable (RFC 6749 §4.1.2.1's code; RFC 9110 §15.6.4), with no
 * stack trace in the logs, and everything works again when it returns (docs/operations.md).
 */
import { StorageUnavailable } from './redis.ts';

/**
 * Is this the failure of a storage command for want of a connection? ioredis rejects queued
 * commands with MaxRetriesPerRequestError after its reconnection attempts, and in-flight ones with
 * "Connection is closed" when the socket drops. On a Redis Cluster: a slot without a master
 * (CLUSTERDOWN), one being moved (TRYAGAIN), a node gone until the redirections are used up, no
 * node answering at all.
 */
export function isStorageOutage(err: unknown): boolean {
  if (err instanceof StorageUnavailable) return true;
  const { name, message, code } = (err ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  if (name === 'MaxRetriesPerRequestError') return true;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTCONN|EHOSTUNREACH)$/.test(code)) {
    return true;
  }
  return (
    typeof message === 'string' &&
    /Connection is closed|Stream isn't writeable|enableOfflineQueue options is false|READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available/.test(
      message,
    )
  );
}

export const STORAGE_OUTAGE_DESCRIPTION = "the gateway's storage cannot be reached; try again shortly";
