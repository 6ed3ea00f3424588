/**
 * Upstream identity providers (GitHub, any OpenID Connect provider, the embedded default's local user).
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
  /** The provider says it checked `email` (OIDC `email_verified`; GitHub: a verified address). */
  emailVerified?: boolean;
  /** GitHub: organisations and `org/team`, lower-cased (read only when rules need them); OIDC: `groups`. */
  groups?: string[];
  /** Provider id: `github`, `oidc`, `local`. */
  provider: string;
}

/** What a login at the provider is bound to: single-use values the gateway made for it. */
export interface LoginBinding {
  /** Opaque, single-use (RFC 6749 §10.12). */
  state: string;
  /** RFC 7636 verifier; the challenge goes in the URL. */
  codeVerifier: string;
  /** OpenID Connect Core §3.1.2.1: bound into the ID token. */
  nonce: string;
  /** `$PUBLIC_URL/callback/<id>`. */
  redirectUri: string;
}

export interface IdentityProvider {
  /** Short id used in URLs (`/callback/<id>`) and in user ids (`<id>:<subject>`). */
  readonly id: string;
  /** Label on the login page ("Continue with GitHub"). */
  readonly displayName: string;
  /**
   * Why the provider cannot be used now (its discovery failed), for the login page; undefined when
   * it can. The URL below is only asked for when it can.
   */
  unavailable?(): string | undefined;
  /** The URL to send the browser to, bound to `binding`. */
  authorizationUrl(binding: LoginBinding): Promise<string> | string;
  /**
   * Exchanges the upstream code for the user. Throws `UpstreamError` with a message fit for
   * the user when the provider refuses or cannot be reached; nothing is kept then.
   */
  complete(params: { code: string } & Omit<LoginBinding, 'state'>): Promise<UpstreamUser>;
}

/** The upstream provider refused or failed; `message` is safe to show the user. */
export class UpstreamError extends Error {
  readonly detail?: string;
  /** The page's status: 502 (the provider's answer was wrong), 503 (it cannot answer now). */
  readonly status: 502 | 503;
  constructor(message: string, detail?: string, options?: { cause?: unknown; status?: 502 | 503 }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.detail = detail;
    this.status = options?.status ?? 502;
  }
}
