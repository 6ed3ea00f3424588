/**
 * GitHub (or GitHub Enterprise Server) as the upstream identity provider, through the OAuth web
 * application flow: https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 *
 * The GitHub access token is used to read who the user is, then dropped: the gateway issues its own
 * tokens. Only when rules name GitHub organisations or teams is it kept (sealed, admission.ts), to
 * read the person's memberships again, at most every MEMBERSHIP_CACHE_TTL seconds.
 */
import { createHash } from 'node:crypto';
import type { GithubConfig } from '../config/load.ts';
import { MembershipUnavailable, type MembershipSource } from './admission.ts';
import { UpstreamError, type IdentityProvider, type UpstreamUser } from './provider.ts';

export interface GitHubProviderOptions {
  /** Per request, including reading the body. Default 10 s. */
  timeoutMs?: number;
  /** GitHub's REST API rejects requests without a User-Agent. */
  userAgent?: string;
  /**
   * Rules name organisations or teams: ask for `read:org`, read the memberships at login (and the
   * organisations named in rules, `orgs`), and hand the token and them to `keep`.
   */
  memberships?: { orgs: ReadonlySet<string>; keep(id: string, token: string, groups: string[]): Promise<void> };
}

/** read:user for the profile, user:email for /user/emails (which addresses are verified). */
const SCOPE = 'read:user user:email';
/** https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps: memberships. */
const MEMBERSHIP_SCOPE = 'read:org';
/** Pages of 100 read for /user/orgs and /user/teams: 1 000 of each at most. */
const MAX_PAGES = 10;
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

export class GitHubProvider implements IdentityProvider, MembershipSource {
  readonly id = 'github';
  readonly displayName = 'GitHub';
  readonly #config: GithubConfig;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  readonly #memberships: GitHubProviderOptions['memberships'];

  constructor(config: GithubConfig, options: GitHubProviderOptions = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#userAgent = options.userAgent ?? 'mcp-oauth-gateway';
    this.#memberships = options.memberships;
  }

  authorizationUrl(params: { state: string; redirectUri: string; codeVerifier: string }): string {
    const url = new URL(`${this.#config.baseUrl}/login/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: this.#config.clientId,
      redirect_uri: params.redirectUri,
      state: params.state,
      scope: this.#memberships ? `${SCOPE} ${MEMBERSHIP_SCOPE}` : SCOPE,
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
      const user = await this.#readUser(accessToken);
      if (!this.#memberships) return user;
      const groups = await this.memberships(accessToken, user.login).catch((err: unknown) => {
        if (!(err instanceof MembershipUnavailable)) throw err;
        throw new UpstreamError(
          `GitHub could not confirm your organisation and team memberships right now (${err.message}). Try again in a few minutes.`,
          `memberships: ${err.message}`,
          { status: 503 },
        );
      });
      if (!groups) throw new UpstreamError(refused('the access token it just issued was refused'), 'memberships: 401');
      await this.#memberships.keep(user.id, accessToken, groups);
      return { ...user, groups };
    } catch (err) {
      if (err instanceof UpstreamError) throw this.#scrub(err, accessToken);
      throw err;
    }
  }

  /**
   * The person's organisations and teams (`org`, `org/team`, lower-cased): GET /user/orgs and
   * GET /user/teams, and for each organisation the rules name that these did not list (an
   * organisation that restricts OAuth apps hides itself there), GET /orgs/{org}/members/{login}
   * (204: a member). https://docs.github.com/en/rest/orgs/members#check-organization-membership-for-a-user
   * Undefined when GitHub refuses the token (401); MembershipUnavailable when it cannot answer
   * (rate limit, 5xx, unreachable): fail closed.
   */
  async memberships(token: string, login: string): Promise<string[] | undefined> {
    const groups = new Set<string>();
    try {
      const orgs = await this.#pages('/user/orgs', token);
      if (!orgs) return undefined;
      for (const org of orgs) if (isRecord(org) && typeof org.login === 'string') groups.add(org.login.toLowerCase());
      const teams = await this.#pages('/user/teams', token);
      if (!teams) return undefined;
      for (const team of teams) {
        if (!isRecord(team) || typeof team.slug !== 'string' || !isRecord(team.organization)) continue;
        const org = team.organization.login;
        if (typeof org !== 'string') continue;
        groups.add(org.toLowerCase());
        groups.add(`${org}/${team.slug}`.toLowerCase());
      }
      for (const org of this.#memberships?.orgs ?? []) {
        if (groups.has(org)) continue;
        const { status, json } = await this.#api(
          `/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(login)}`,
          token,
          true,
        );
        if (status === 204) groups.add(org);
        // 404: not a member; 302: the token's owner is not a member (GitHub redirects to public members).
        else if (status !== 404 && status !== 302) this.#unavailable(status, json);
      }
    } catch (err) {
      if (err instanceof UpstreamError) throw new MembershipUnavailable(err.detail ?? err.message);
      throw err;
    }
    return [...groups].sort();
  }

  /** Every page of a list endpoint (Link rel="next"); undefined on 401. */
  async #pages(path: string, token: string): Promise<unknown[] | undefined> {
    const items: unknown[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { status, json } = await this.#api(`${path}?per_page=100&page=${page}`, token);
      if (status === 401) return undefined;
      if (status !== 200 || !Array.isArray(json)) this.#unavailable(status, json);
      items.push(...(json as unknown[]));
      if ((json as unknown[]).length < 100) break;
    }
    return items;
  }

  /** A status that is not an answer: rate limited (403/429), GitHub in trouble, or not understood. */
  #unavailable(status: number, json: unknown): never {
    const limited = status === 429 || (status === 403 && /rate limit/i.test(apiMessage(json)));
    throw new MembershipUnavailable(
      limited ? 'GitHub API rate limit reached' : `GitHub answered HTTP ${status}${apiMessage(json)}`,
    );
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
    // `email` is the public profile email, null when the user keeps it private; whether an address
    // is verified only /user/emails says.
    const emails = await this.#emails(accessToken);
    const publicEmail = typeof email === 'string' && email ? email : undefined;
    const primary = emails?.find((e) => e.primary && e.verified)?.email;
    const chosen = publicEmail ?? primary;
    return {
      id: `github:${id}`,
      login,
      name: typeof name === 'string' && name.trim() ? name.trim() : undefined,
      email: chosen,
      emailVerified: chosen !== undefined && (emails?.some((e) => e.email === chosen && e.verified) ?? false),
      provider: 'github',
    };
  }

  /** GET /user/emails (needs user:email). Optional: a failure is no list. */
  async #emails(accessToken: string): Promise<{ email: string; primary: boolean; verified: boolean }[] | undefined> {
    try {
      const { status, json } = await this.#api('/user/emails', accessToken);
      if (status !== 200 || !Array.isArray(json)) return undefined;
      return json
        .filter((e): e is Record<string, unknown> => isRecord(e) && typeof e.email === 'string' && e.email !== '')
        .map((e) => ({ email: e.email as string, primary: e.primary === true, verified: e.verified === true }));
    } catch {
      return undefined;
    }
  }

  #api(path: string, accessToken: string, redirectIsAnswer = false): Promise<Answer> {
    return this.#request(`GET ${path.split('?')[0]}`, {
      redirectIsAnswer,
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
    init: { url: string; method: string; headers: Record<string, string>; body?: string; redirectIsAnswer?: boolean },
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
        if (init.redirectIsAnswer) return { status: res.status, json: undefined };
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
