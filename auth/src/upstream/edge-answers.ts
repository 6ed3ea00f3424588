/**
 * What a production edge (Traefik, Caddy) answers the client when a remote MCP server's answer
 * cannot go back as it is: `GET /verify/upstream/<service>/<status>`, an internal path (never
 * routed from outside: /verify/ is INTERNAL_ROUTES), asked by Traefik's errors middleware (which
 * sends the original request's headers and keeps the original status) and by Caddy's
 * handle_response. The in-process edge does the same inline (edge/remote.ts).
 *   401        the upstream refused its token: UpstreamService.rejectedAtEdge, then the gateway's
 *              own 401 invalid_token challenge (never the upstream's, which names its own server);
 *   502, 504   the upstream could not be reached, or did not answer within MCP_<S>_TIMEOUT: a
 *              JSON-RPC error naming the service.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServiceRegistry } from '../oidc/services.ts';
import { jsonRpcError, type JsonRpcErrorResponse } from '../../../contracts/jsonrpc-error.ts';
import { InvalidTokenError, NotFoundError, toWire } from '../errors.ts';
import type { Upstreams } from './upstreams.ts';

export const EDGE_ANSWER_PREFIX = '/verify/upstream/';
/** The statuses an edge hands over (traefik errors middleware `status`, caddy handle_response). */
export const EDGE_ANSWER_STATUSES = [401, 502, 504] as const;

export const edgeAnswerPath = (service: string, status: number | string): string =>
  `${EDGE_ANSWER_PREFIX}${service}/${status}`;

/**
 * What every edge says when a remote server fails (edge/remote.ts inline, and the answers below):
 * a JSON-RPC error body naming the service, with its status.
 */
export function upstreamFailure(
  name: string,
  failure: 'timeout' | 'unreachable',
  timeoutMs: number,
): { status: 502 | 504; body: JsonRpcErrorResponse } {
  const message =
    failure === 'timeout'
      ? `${name}: the upstream MCP server did not answer within ${Math.round(timeoutMs / 1000)} s`
      : `${name}: the upstream MCP server could not be reached`;
  return {
    status: failure === 'timeout' ? 504 : 502,
    body: jsonRpcError(-32000, message),
  };
}

/** The gateway's own refusal when a remote server refused the token it was given. */
export const upstreamRefused = (name: string): InvalidTokenError =>
  new InvalidTokenError(`${name} refused its authorization: authorize ${name} again`);

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}

export function upstreamEdgeAnswers(registry: ServiceRegistry, upstreams: Upstreams | undefined) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [name = '', statusText = ''] = (req.url ?? '').slice(EDGE_ANSWER_PREFIX.length).split('?')[0]!.split('/');
    const service = registry.byName(name);
    const status = Number(statusText);
    if (!service?.remote || !(EDGE_ANSWER_STATUSES as readonly number[]).includes(status)) {
      const wire = toWire(new NotFoundError('no such resource'));
      return send(res, wire.status, wire.body);
    }
    if (status === 401) {
      await upstreams?.get(name)?.rejectedAtEdge(req.headers.authorization);
      const wire = toWire(upstreamRefused(name), undefined, {
        resource_metadata: service.metadataUrl,
        scope: service.scopes.join(' '),
      });
      return send(res, 401, wire.body, wire.headers);
    }
    const failure = upstreamFailure(name, status === 504 ? 'timeout' : 'unreachable', service.remote.timeoutMs);
    send(res, failure.status, failure.body);
  };
}
