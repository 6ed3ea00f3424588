/**
 * One error family for everything the gateway answers itself (oidc-provider renders its own
 * endpoints' errors in the same OAuth shape). `toWire` is the one place an error becomes a
 * status, headers and an RFC 6749 §5.2-shaped JSON body; anything that is not a GatewayError
 * becomes a generic `server_error` and is logged with its detail.
 */
import type { Logger } from './log.ts';

export class GatewayError extends Error {
  readonly error: string;
  readonly status: number;
  readonly description?: string;
  readonly headers: Record<string, string>;
  constructor(error: string, status: number, description?: string, headers: Record<string, string> = {}) {
    super(description ?? error);
    this.name = 'GatewayError';
    this.error = error;
    this.status = status;
    this.description = description;
    this.headers = headers;
  }
}

// RFC 6749 §5.2 / §4.1.2.1
export const invalidRequest = (description: string) => new GatewayError('invalid_request', 400, description);
export const accessDenied = (description: string) => new GatewayError('access_denied', 403, description);
export const notFound = (description = 'no such resource') => new GatewayError('not_found', 404, description);
export const methodNotAllowed = (allow: string) =>
  new GatewayError('invalid_request', 405, `method not allowed (allowed: ${allow})`, { allow });
// RFC 8707 §2
export const invalidTarget = (description: string) => new GatewayError('invalid_target', 400, description);

export interface WireError {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description?: string };
}

export function toWire(err: unknown, log?: Logger): WireError {
  if (err instanceof GatewayError) {
    return {
      status: err.status,
      headers: err.headers,
      body: err.description ? { error: err.error, error_description: err.description } : { error: err.error },
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
  log?.error({ err }, 'unexpected error');
  return {
    status: 500,
    headers: {},
    body: { error: 'server_error', error_description: 'an unexpected error occurred' },
  };
}
