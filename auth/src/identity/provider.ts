/**
 * Upstream identity providers (GitHub, the embedded default's local user, next: generic OIDC).
 * The gateway's login step only knows this interface: it sends the browser to `authorizationUrl`,
 * gets it back at `/callback/<id>` with `code` and `state`, and asks `complete` for the user.
 */
export interface UpstreamUser {
  /** Stable, provider-prefixed id: `github:12345`. Becomes the token `sub` and `X-User-Id`. */
  id: string;
  /** The provider's login name (GitHub login), as the provider spells it. */
  login: string;
  name?: string;
  email?: string;
  /** Provider id: `github`, `local`, later an OIDC provider's id. */
  provider: string;
}

export interface IdentityProvider {
  /** Short id used in URLs (`/callback/<id>`) and in user ids (`<id>:<subject>`). */
  readonly id: string;
  /** Label on the login page ("Continue with GitHub"). */
  readonly displayName: string;
  /**
   * The URL to send the browser to. `state` is opaque and single-use, created by the caller;
   * `redirectUri` is `$PUBLIC_URL/callback/<id>`.
   */
  authorizationUrl(params: { state: string; redirectUri: string; codeVerifier: string }): string;
  /**
   * Exchanges the upstream code for the user. Throws `UpstreamError` with a message fit for
   * the user when the provider refuses or cannot be reached.
   */
  complete(params: { code: string; redirectUri: string; codeVerifier: string }): Promise<UpstreamUser>;
  /** Is this user admitted right now? Checked at login and at every /verify. */
  isAllowed(user: Pick<UpstreamUser, 'login' | 'provider'>): boolean;
}

/** The upstream provider refused or failed; `message` is safe to show the user. */
export class UpstreamError extends Error {
  readonly detail?: string;
  constructor(message: string, detail?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.detail = detail;
  }
}
