/**
 * The edge guard: a service accepts MCP requests only from the gateway's edge (defence in depth
 * behind network isolation; docs/edge.md "What a service receives"). /verify answers each request
 * it lets through with the service's own secret in `X-Gateway-Edge`; the edge copies it onto the
 * request, after stripping any copy the client sent (auth/src/edge/chain.ts). The service has
 * the same secret in `MCP_EDGE_SECRET` (auth/src/edge/edge-secret.ts derives it per service) and
 * compares.
 *
 * Node built-ins only, no import from auth/: the services' image holds mcp-services/ alone.
 * tests/services/edge-guard.test.ts checks that the header name here is auth's.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { EDGE_SECRET_HEADER } from '../../contracts/headers.ts';
import { sendJsonRpcError } from '../../contracts/jsonrpc-error.ts';
import { isLoopbackHost } from '../../contracts/loopback.ts';

export { EDGE_SECRET_HEADER, isLoopbackHost };
/** Where the service finds its own secret. */
export const EDGE_SECRET_ENV = 'MCP_EDGE_SECRET';
/**
 * As EDGE_SECRET itself (auth/src/config/load.ts). The secrets the gateway derives are 43
 * characters (256 bits, base64url): RFC 7518 §3.2 asks an HMAC key of at least the hash's size.
 */
export const MIN_EDGE_SECRET_LENGTH = 32;
/** sysexits(3) EX_CONFIG: "something was found in an unconfigured or misconfigured state". */
export const EX_CONFIG = 78;

export const FORBIDDEN_MESSAGE = "Forbidden: this service only accepts requests through the gateway's edge";

/** The one path open without the edge: the container and `npm start` healthchecks call it directly. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health']);

/** A setting that forbids starting: the service prints the message and exits EX_CONFIG. */
export class EdgeSecretError extends Error {}

/**
 * The service's edge secret from its environment, or undefined when none is needed (loopback).
 * MCP 2025-11-25, basic/transports, "Security Warning": servers SHOULD bind only to localhost
 * when run locally and SHOULD authenticate every connection. So: secure by default, a service
 * that listens beyond loopback without a secret does not start (EdgeSecretError); one on
 * loopback (tests, development by hand) may run without, and says so.
 */
export function edgeSecretFromEnv(env: Record<string, string | undefined>, host: string): string | undefined {
  const secret = env[EDGE_SECRET_ENV];
  if (secret === undefined || secret === '') {
    if (isLoopbackHost(host)) return undefined;
    throw new EdgeSecretError(
      `${EDGE_SECRET_ENV} is not set and HOST=${host} is not loopback: refusing to serve requests that need not ` +
        `come through the gateway's edge. Set ${EDGE_SECRET_ENV} (the gateway's npm start and the Compose stack ` +
        'give each service its own), or listen on 127.0.0.1.',
    );
  }
  if (secret.length < MIN_EDGE_SECRET_LENGTH) {
    throw new EdgeSecretError(
      `${EDGE_SECRET_ENV} is too short (${secret.length} characters, at least ${MIN_EDGE_SECRET_LENGTH}): ` +
        'use the secret the gateway derives for this service (auth/src/edge/edge-secret.ts).',
    );
  }
  return secret;
}

/** What the guard logs through: pino's `info(fields, msg)` and `warn(msg)` fit. */
export interface EdgeGuardLog {
  info(fields: Record<string, unknown>, msg: string): void;
  /** A message, or fields and a message (pino's two forms). */
  warn(fieldsOrMessage: Record<string, unknown> | string, msg?: string): void;
}

/**
 * Reads the secret for a service that is starting: on a setting that forbids starting, one line
 * on stderr and exit EX_CONFIG; without a secret (loopback), one warning. Takes the secret out
 * of `env` (process.env), so that no child the service starts with it can inherit it.
 */
export function startupEdgeSecret(
  env: Record<string, string | undefined>,
  host: string,
  service: string,
  log: EdgeGuardLog,
): string | undefined {
  let secret: string | undefined;
  try {
    secret = edgeSecretFromEnv(env, host);
  } catch (error) {
    if (!(error instanceof EdgeSecretError)) throw error;
    process.stderr.write(`${service}: ${error.message}\n`);
    process.exit(EX_CONFIG);
  }
  delete env[EDGE_SECRET_ENV];
  if (secret === undefined) {
    log.warn(
      `${EDGE_SECRET_ENV} is not set: accepting requests without the gateway's edge header, as only this host ` +
        `can reach ${host}. Never expose this port.`,
    );
  }
  return secret;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Removes every copy of the header from the request: from `headers`, and from `rawHeaders`,
 * which the SDK's transport reads (through @hono/node-server) to build the headers its tools
 * see. The secret is a credential for the edge → service hop alone; like a client's token (MCP
 * 2025-11-25, basic/security_best_practices, "Token Passthrough") it is never handed on: not
 * to a tool, a log or a stdio child.
 */
export function stripEdgeHeader(req: IncomingMessage): void {
  // Node builds `headers` and `headersDistinct` from `rawHeaders` when first read, counting the
  // pairs it parsed: both are built before `rawHeaders` shrinks.
  const { headers, headersDistinct } = req;
  delete headers[EDGE_SECRET_HEADER];
  delete headersDistinct[EDGE_SECRET_HEADER];
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]!.toLowerCase() === EDGE_SECRET_HEADER) raw.splice(i, 2);
  }
}

export type EdgeGuard = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * A guard for requests: true when the request may go on (its edge header is gone by then);
 * false when it has been answered 403. `secret` undefined: every request may go on (see
 * edgeSecretFromEnv for when that is allowed). OPEN_PATHS need no header.
 */
export function createEdgeGuard(secret: string | undefined, log: EdgeGuardLog): EdgeGuard {
  const expected = secret === undefined ? undefined : digest(secret);
  return function guard(req, res) {
    const presented = req.headers[EDGE_SECRET_HEADER];
    stripEdgeHeader(req);
    const path = (req.url ?? '/').split('?')[0]!;
    if (expected === undefined || OPEN_PATHS.has(path)) return true;
    // Compared as SHA-256 digests with timingSafeEqual: equal lengths whatever was sent, and no
    // early exit that would time how much of a guess is right (CWE-208). Two copies of the
    // header arrive joined ("a, b") and match nothing.
    const value = Array.isArray(presented) ? presented.join(', ') : presented;
    if (value !== undefined && timingSafeEqual(digest(value), expected)) return true;
    // RFC 9110 §15.5.4: 403, the server understood the request and refuses it; no
    // WWW-Authenticate, since no credential the client could get would help.
    log.info(
      {
        method: req.method,
        path,
        remote: req.socket.remoteAddress,
        edgeHeader: value === undefined ? 'missing' : 'wrong',
      },
      'request refused: not through the edge',
    );
    sendJsonRpcError(res, 403, -32000, FORBIDDEN_MESSAGE);
    return false;
  };
}
