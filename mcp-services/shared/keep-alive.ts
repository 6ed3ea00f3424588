/**
 * How long every MCP service keeps an idle HTTP connection open, in one place for all of them
 * (the native services' shared handler and the stdio proxy).
 */
import type { Server } from 'node:http';

/**
 * Longer than any proxy in front keeps an idle connection to a backend (Traefik's backend idle
 * timeout is 90 s): the proxy must be the one to close it, or it may reuse a connection at the
 * moment the service closes it and get a reset (RFC 9112 §9.5: either side may close an idle
 * connection at any time, and a close racing a request loses that request).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** Just above the keep-alive timeout (the usual pairing for a Node backend behind a proxy). */
export const HEADERS_TIMEOUT_MS = 121_000;

export function applyKeepAlive(server: Server): Server {
  // Outlive the proxy's idle connections (Traefik: 90 s), so it never reuses one being closed.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  return server;
}
