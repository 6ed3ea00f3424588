/**
 * What a service receives from the gateway's edge (docs/edge.md, "What a service receives"): the
 * headers the edge sets on every request to an MCP service, lower-case as Node gives them. The one
 * definition for the auth service (which sets them), the services (which read them) and the
 * deployment generator. Node built-ins only: anything may import this.
 */

/** Who is calling, from the /verify decision; a client's own copies never pass the edge. */
export const IDENTITY = {
  /** Stable, provider-prefixed user id (`github:12345`, `local:local`): the token's `sub`. */
  id: 'x-user-id',
  login: 'x-user-login',
  name: 'x-user-name',
  email: 'x-user-email',
  /** The identity provider: `github`, `oidc`, `local`. */
  provider: 'x-user-provider',
  /**
   * Comma list of the user's groups: GitHub `org` and `org/team` (lower-cased, read only when
   * rules name organisations or teams), or the OpenID Connect `groups` claim. An item holding a
   * comma, `%` or non-ASCII is percent-encoded.
   */
  groups: 'x-user-groups',
  /** The OAuth client the user authorized. */
  clientId: 'x-client-id',
} as const;

export const IDENTITY_HEADERS = Object.values(IDENTITY);

/**
 * The header by which a service knows a request came through the edge (defence in depth behind
 * network isolation): the per-service secret /verify answers with (auth/src/edge/edge-secret.ts).
 * Clients' copies are stripped before ForwardAuth; the service checks it
 * (mcp-services/shared/edge-guard.ts).
 */
export const EDGE_SECRET_HEADER = 'x-gateway-edge';
