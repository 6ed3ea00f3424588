/**
 * GitHub (or GitHub Enterprise Server) as the upstream identity provider, through the OAuth web
 * application flow: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 *
 * The GitHub access token is only used to read who the user is, then dropped: the gateway issues
 * its own tokens and never calls GitHub on the user's behalf afterwards.
 */
import { createHash } from 'node:crypto';
import type { Allowlist, GithubConfig } from '../config/load.ts';
import { isAllowedLogin } from './allowlist.ts';
import { UpstreamError, type IdentityProvider, type UpstreamUser } from './provider.ts';

export interface GitHubProviderOptions {
  /** Per request, including reading the body. Default 10 s. */
  timeoutMs?: number;
  /** GitHub's REST API rejects requests without a User-Agent. */
  userAgent?: string;
}

/** read:user for the profile, user:email for /user/emails when the email is private. */
const SCOPE = 'read:user user:email';
const API_VERSION = '2022-11-28';

const UNREACHABLE = 'GitHub could not be reached. Try again in a moment.';
const UNEXPECTED = 'GitHub sent an answer the gateway did not understand. Try again later, or tell the operator.';
const trouble = (status: number) => `GitHub is having trouble (HTTP ${status}). Try again in a moment.`;
const refused = (why: string) => `GitHub did not accept the login: ${why}. Start the sign-in again.`;

/** The token endpoint's documented error codes, in words for the person signing in. */
const TOKEN_ERRORS: Record<string, string> = {
  bad_verification_code: 'the sign-in code was wrong or has expired',
  incorrect_client_credentials: "the gateway's GitHub OAuth app credentials were refused (tell the operator)",
  redirect_uri_mismatch:
    "the callback URL is not the one registered in the gateway's GitHub OAuth app (tell the operator)",
  unverified_user_email: 'your GitHub account has no verified email address',
};

/**
 * GitHub logins are letters, digits and hyphens (plus `_` for Enterprise Managed Users). The login
 * travels on in X-User-Login headers, so anything else is treated as a malformed answer.
 */
const LOGIN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

interface Answer {
  status: number;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);

export class GitHubProvider implements IdentityProvider {
  readonly id = 'github';
  readonly displayName = 'GitHub';
  readonly #config: GithubConfig;
  readonly #allowlist: Allowlist;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(config: GithubConfig, allowlist: Allowlist, options: GitHubProviderOptions = {}) {
    this.#config = config;
    this.#allowlist = allowlist;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#userAgent = options.userAgent ?? 'mcp-oauth-gateway';
  }

  authorizationUrl(params: { state: string; redirectUri: string; codeVerifier: string }): string {
    const url = new URL(`${this.#config.baseUrl}/login/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: this.#config.clientId,
      redirect_uri: params.redirectUri,
      state: params.state,
      scope: SCOPE,
      // Only existing GitHub accounts can be on the allowlist: no sign-up detour on the way.
      allow_signup: 'false',
      // RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(ASCII(code_verifier))). GitHub accepts
      // only S256 (changelog 2025-07-14, "PKCE support for OAuth and GitHub App authentication").
      code_challenge: createHash('sha256').update(params.codeVerifier, 'ascii').digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return url.href;
  }

  async complete(params: { code: string; redirectUri: string; codeVerifier: string }): Promise<UpstreamUser> {
    // Held in this frame only: never stored, returned, logged or put into an error.
    let accessToken: string | undefined;
    try {
      accessToken = await this.#exchange(params);
      return await this.#readUser(accessToken);
    } catch (err) {
      if (err instanceof UpstreamError) throw this.#scrub(err, accessToken);
      throw err;
    }
  }

  isAllowed(user: Pick<UpstreamUser, 'login' | 'provider'>): boolean {
    return user.provider === 'github' && isAllowedLogin(this.#allowlist, user.login);
  }

  /** POST /login/oauth/access_token: the code (and PKCE verifier) for an access token. */
  async #exchange(params: { code: string; redirectUri: string; codeVerifier: string }): Promise<string> {
    const { status, json } = await this.#request('POST /login/oauth/access_token', {
      url: `${this.#config.baseUrl}/login/oauth/access_token`,
      method: 'POST',
      // Without Accept: application/json GitHub answers form-encoded.
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: this.#config.clientId,
        client_secret: this.#config.clientSecret,
        code: params.code,
        redirect_uri: params.redirectUri,
        code_verifier: params.codeVerifier, // RFC 7636 §4.5
      }).toString(),
    });
    // GitHub reports refusals with HTTP 200 and an `error` field, so the field decides, not the status.
    if (isRecord(json) && typeof json.error === 'string') {
      const description = typeof json.error_description === 'string' ? json.error_description : '';
      throw new UpstreamError(
        refused(TOKEN_ERRORS[json.error] ?? clip(description || json.error, 100)),
        clip(`token exchange refused: ${json.error}${description ? `: ${description}` : ''}`),
      );
    }
    if (status >= 500) throw new UpstreamError(trouble(status), `token exchange: HTTP ${status}`);
    if (status !== 200) {
      throw new UpstreamError(UNEXPECTED, `token exchange: HTTP ${status}; is GITHUB_BASE_URL right?`);
    }
    // The body is never quoted in a detail: it holds the access token.
    if (!isRecord(json) || typeof json.access_token !== 'string' || json.access_token === '') {
      throw new UpstreamError(UNEXPECTED, 'token exchange: HTTP 200 without an access_token');
    }
    return json.access_token;
  }

  async #readUser(accessToken: string): Promise<UpstreamUser> {
    const { status, json } = await this.#api('/user', accessToken);
    if (status === 401 || status === 403) {
      throw new UpstreamError(
        refused('the access token it just issued was refused'),
        `GET /user: HTTP ${status}${apiMessage(json)}`,
      );
    }
    if (status >= 500) throw new UpstreamError(trouble(status), `GET /user: HTTP ${status}${apiMessage(json)}`);
    if (status !== 200) {
      throw new UpstreamError(UNEXPECTED, `GET /user: HTTP ${status}${apiMessage(json)}; is GITHUB_API_URL right?`);
    }
    if (!isRecord(json)) throw new UpstreamError(UNEXPECTED, 'GET /user: the body is not a JSON object');
    const { id, login, name, email } = json;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      throw new UpstreamError(UNEXPECTED, 'GET /user: `id` is not a positive integer');
    }
    if (typeof login !== 'string' || !LOGIN.test(login)) {
      throw new UpstreamError(UNEXPECTED, 'GET /user: `login` is missing or not a GitHub login');
    }
    return {
      id: `github:${id}`,
      login,
      name: typeof name === 'string' && name.trim() ? name.trim() : undefined,
      // `email` is the public profile email, null when the user keeps it private.
      email: typeof email === 'string' && email ? email : await this.#primaryEmail(accessToken),
      provider: 'github',
    };
  }

  /** GET /user/emails (needs user:email): the primary, verified address. Optional: failure is no email. */
  async #primaryEmail(accessToken: string): Promise<string | undefined> {
    try {
      const { status, json } = await this.#api('/user/emails', accessToken);
      if (status !== 200 || !Array.isArray(json)) return undefined;
      const primary = json.find((e: unknown) => isRecord(e) && e.primary === true && e.verified === true) as
        Record<string, unknown> | undefined;
      return typeof primary?.email === 'string' && primary.email ? primary.email : undefined;
    } catch {
      return undefined;
    }
  }

  #api(path: string, accessToken: string): Promise<Answer> {
    return this.#request(`GET ${path}`, {
      url: `${this.#config.apiUrl}${path}`,
      method: 'GET',
      // https://docs.github.com/en/rest/about-the-rest-api/api-versions
      headers: {
        Authorization: `Bearer ${accessToken}`,
        Accept: 'application/vnd.github+json',
        'X-GitHub-Api-Version': API_VERSION,
      },
    });
  }

  /** One request with a deadline; network failures and timeouts become UpstreamErrors. */
  async #request(
    what: string,
    init: { url: string; method: string; headers: Record<string, string>; body?: string },
  ): Promise<Answer> {
    try {
      const res = await fetch(init.url, {
        method: init.method,
        headers: { ...init.headers, 'User-Agent': this.#userAgent },
        body: init.body,
        // A redirect would carry the client secret or the token elsewhere; GitHub does not redirect these.
        redirect: 'manual',
        // Covers the whole exchange, body included.
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        throw new UpstreamError(
          UNEXPECTED,
          `${what}: HTTP ${res.status} redirect to ${clip(res.headers.get('location') ?? '?', 100)}; check GITHUB_BASE_URL and GITHUB_API_URL`,
        );
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json };
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      // fetch rejects with a DOMException (TimeoutError) or a TypeError whose cause is the socket
      // error; read them by shape, as they may come from another realm.
      const { name, message, cause } = (err ?? {}) as {
        name?: unknown;
        message?: unknown;
        cause?: { message?: unknown };
      };
      const detail =
        name === 'TimeoutError'
          ? `${what}: no answer within ${this.#timeoutMs} ms`
          : `${what}: ${String(message ?? err)}${typeof cause?.message === 'string' ? `: ${cause.message}` : ''}`;
      throw new UpstreamError(UNREACHABLE, clip(detail, 300));
    }
  }

  /**
   * Belt and braces: no secret leaves this class inside an error, whatever GitHub echoed back
   * (error descriptions, API messages and network errors are quoted in messages and details).
   */
  #scrub(err: UpstreamError, token: string | undefined): UpstreamError {
    const secrets = [this.#config.clientSecret, token].filter((s): s is string => !!s);
    const clean = (text: string) => secrets.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), text);
    const message = clean(err.message);
    const detail = err.detail === undefined ? undefined : clean(err.detail);
    return message === err.message && detail === err.detail ? err : new UpstreamError(message, detail);
  }
}

/** GitHub's REST errors are `{ message, documentation_url }`. */
function apiMessage(json: unknown): string {
  return isRecord(json) && typeof json.message === 'string' ? ` ${clip(json.message, 100)}` : '';
}
