/**
 * One error family for everything the gateway answers itself (oidc-provider renders its own
 * endpoints' errors in the same OAuth shape): one class per error code, each with its status, so
 * a status and a code cannot disagree; `toWire` is the one place an error becomes a status,
 * headers (WWW-Authenticate included) and an RFC 6749 §5.2-shaped JSON body. Anything that is not
 * a GatewayError becomes a generic `server_error` and is logged with its detail.
 * Modelled on the MCP TypeScript SDK's server/auth/errors.ts and middleware/bearerAuth.ts.
 */
import type { Logger } from './log.ts';
import { isStorageOutage, STORAGE_OUTAGE_DESCRIPTION } from './storage/outage.ts';

export abstract class GatewayError extends Error {
  /** The OAuth error code of the body (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8707 §2). */
  abstract readonly code: string;
  abstract readonly status: number;
  readonly description?: string;
  constructor(description?: string) {
    super(description);
    this.name = new.target.name;
    this.description = description;
  }
  /** Headers this error carries (Allow, Retry-After); WWW-Authenticate comes from toWire. */
  headers(): Record<string, string> {
    return {};
  }
}

// RFC 6749 §5.2: the request is missing a parameter, or is otherwise malformed.
export class InvalidRequestError extends GatewayError {
  readonly code = 'invalid_request';
  readonly status = 400;
}

// RFC 6749 §4.1.2.1: the resource owner or the gateway refused.
export class AccessDeniedError extends GatewayError {
  readonly code = 'access_denied';
  readonly status = 403;
}

// RFC 6749 §5.2: the grant (a refresh token) is invalid, expired, revoked, or no longer usable.
export class InvalidGrantError extends GatewayError {
  readonly code = 'invalid_grant';
  readonly status = 400;
}

export class NotFoundError extends GatewayError {
  readonly code = 'not_found';
  readonly status = 404;
}

// RFC 9110 §15.5.6: 405 names the methods the resource serves in Allow.
export class MethodNotAllowedError extends GatewayError {
  readonly code = 'invalid_request';
  readonly status = 405;
  readonly allow: string;
  constructor(allow: string) {
    super(`method not allowed (allowed: ${allow})`);
    this.allow = allow;
  }
  override headers(): Record<string, string> {
    return { allow: this.allow };
  }
}

// RFC 9110 §15.5.14: the body is larger than the gateway reads.
export class ContentTooLargeError extends GatewayError {
  readonly code = 'invalid_request';
  readonly status = 413;
}

// RFC 6585 §4: too many requests from one address; the body keeps the OAuth shape.
export class TooManyRequestsError extends GatewayError {
  readonly code = 'too_many_requests';
  readonly status = 429;
  readonly retryAfter: number;
  constructor(description: string, retryAfter: number) {
    super(description);
    this.retryAfter = retryAfter;
  }
  override headers(): Record<string, string> {
    return { 'retry-after': String(this.retryAfter) };
  }
}

// RFC 6749 §4.1.2.1: a dependency (storage) is down; try again shortly.
export class TemporarilyUnavailableError extends GatewayError {
  readonly code = 'temporarily_unavailable';
  readonly status = 503;
  override headers(): Record<string, string> {
    return { 'retry-after': '1' };
  }
}

export class ServerError extends GatewayError {
  readonly code = 'server_error';
  readonly status = 500;
}

// RFC 6750 §3.1: the request had no authentication. The challenge carries no error code; the body
// still says what is missing.
export class MissingTokenError extends GatewayError {
  readonly code = 'invalid_request';
  readonly status = 401;
  constructor(description = 'a Bearer access token is required') {
    super(description);
  }
}

// RFC 6750 §3.1: expired, revoked, malformed or otherwise invalid.
export class InvalidTokenError extends GatewayError {
  readonly code = 'invalid_token';
  readonly status = 401;
}

// RFC 6750 §3.1: the token is valid but lacks a scope the resource requires.
export class InsufficientScopeError extends GatewayError {
  readonly code = 'insufficient_scope';
  readonly status = 403;
}

/** A protected resource's challenge parameters (RFC 9728 §5.1, RFC 6750 §3). */
export interface Challenge {
  resource_metadata: string;
  scope: string;
}

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description?: string };
}

function quoted(params: Record<string, string | undefined>): string {
  return Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
}

/**
 * The answer for `err`. With a `challenge` (a refusal at a protected resource), WWW-Authenticate is
 * the Bearer challenge MCP authorization requires: resource_metadata and scope, then the error and
 * its description, except for a request without a token (RFC 6750 §3.1).
 */
export function toWire(err: unknown, log?: Logger, challenge?: Challenge): WireError {
  if (err instanceof GatewayError) {
    const headers = err.headers();
    if (challenge) {
      const missing = err instanceof MissingTokenError;
      headers['www-authenticate'] = `Bearer ${quoted({
        ...challenge,
        error: missing ? undefined : err.code,
        error_description: missing ? undefined : err.description,
      })}`;
    }
    return {
      status: err.status,
      headers,
      body: err.description ? { error: err.code, error_description: err.description } : { error: err.code },
    };
  }
  // Body parsers and other middleware signal client errors with an HTTP status.
  const status =
    (err as { status?: unknown; statusCode?: unknown })?.status ?? (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (err as { type?: string }).type;
    const description =
      type === 'entity.too.large'
        ? 'request body too large'
        : type === 'entity.parse.failed'
          ? 'request body is not valid'
          : 'invalid request';
    return { status, headers: {}, body: { error: 'invalid_request', error_description: description } };
  }
  // Storage unreachable: a state, said once by the store; 503 and no stack trace here.
  if (isStorageOutage(err)) return toWire(new TemporarilyUnavailableError(STORAGE_OUTAGE_DESCRIPTION), log, challenge);
  log?.error({ err }, 'unexpected error');
  return toWire(new ServerError('an unexpected error occurred'));
}
