/**
 * The headers the edge sets on a request to an MCP service (design.md "What a service
 * receives"), lower-case as Node gives them. Node built-ins only, no imports: the services and
 * the deployment generator read these names too.
 */

/** Who is calling, from the /verify decision; a client's own copies never pass the edge. */
export const IDENTITY_HEADERS = [
  'x-user-id',
  'x-user-login',
  'x-user-name',
  'x-user-email',
  'x-user-provider',
  'x-client-id',
] as const;

/**
 * The header by which a service knows a request came through the edge (defence in depth behind
 * network isolation): the per-service secret /verify answers with (edge-secret.ts). Clients'
 * copies are stripped before ForwardAuth; the service checks it (mcp-services/shared/edge-guard.ts).
 */
export const EDGE_SECRET_HEADER = 'x-gateway-edge';
