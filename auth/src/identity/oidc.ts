/**
 * Any OpenID Connect provider, by discovery: the authorization code flow with PKCE, `state` and
 * `nonce` (OpenID Connect Core 1.0 §3.1, https://openid.net/specs/openid-connect-core-1_0.html),
 * the ID token validated as §3.1.3.7 says (signature by the provider's JWKS, which is fetched again
 * when an unknown `kid` appears, so that key rotation needs nothing; `iss`, `aud`, `azp`, `exp`,
 * `nonce`), and the claims of the ID token completed by UserInfo (§5.3).
 *
 * Discovery (OpenID Connect Discovery 1.0 §4) happens at startup; when it fails, the gateway still
 * starts, the login page says the provider is unavailable, and discovery is retried with backoff.
 */
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors as jose, jwtVerify, type JWTPayload } from 'jose';
import type { OidcConfig } from '../config/identity.ts';
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import type { Logger } from '../log.ts';
import { UpstreamError, type IdentityProvider, type LoginBinding, type UpstreamUser } from './provider.ts';

/** What the gateway uses of the provider's metadata. */
interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  token_endpoint_auth_methods_supported?: string[];
  id_token_signing_alg_values_supported?: string[];
}

export interface OidcProviderOptions {
  logger: Logger;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** First retry of a failed discovery; doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Least time between two fetches of the JWKS for an unknown `kid`. Default 30 s. */
  jwksCooldownMs?: number;
}

/** Algorithms the ID token may be signed with: asymmetric only (never `none`, never a MAC). */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
/** Seconds of clock difference tolerated on `exp`, `iat`, `nbf`. */
const CLOCK_TOLERANCE = 30;
const MAX_GROUPS = 1000;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** https, or http on loopback (tests and development): OpenID Connect Discovery §3. */
function secure(url: unknown): url is string {
  const u = typeof url === 'string' ? URL.parse(url) : null;
  return u !== null && (u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname)));
}

export class OidcProvider implements IdentityProvider {
  readonly id = 'oidc';
  readonly displayName: string;
  readonly #config: OidcConfig;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #jwksCooldownMs: number;
  #metadata?: Metadata;
  #jwks?: ReturnType<typeof createRemoteJWKSet>;
  #problem = 'its configuration has not been read yet';
  #retryMs: number;
  readonly #maxRetryMs: number;
  #timer?: NodeJS.Timeout;
  #discovering?: Promise<void>;
  #stopped = false;

  constructor(config: OidcConfig, options: OidcProviderOptions) {
    this.#config = config;
    this.displayName = config.name;
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#maxRetryMs = options.maxRetryMs ?? 300_000;
    this.#jwksCooldownMs = options.jwksCooldownMs ?? 30_000;
  }

  /** Reads the provider's metadata; on failure, logs why and tries again later (never throws). */
  start(): Promise<void> {
    this.#discovering ??= this.#discover().finally(() => (this.#discovering = undefined));
    return this.#discovering;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  unavailable(): string | undefined {
    return this.#metadata ? undefined : this.#problem;
  }

  async #discover(): Promise<void> {
    const url = `${this.#config.issuer}/.well-known/openid-configuration`;
    try {
      const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(this.#timeoutMs) });
      if (res.status !== 200) throw new Error(`${url} answered HTTP ${res.status}`);
      const doc = (await res.json()) as unknown;
      this.#metadata = this.#check(doc);
      this.#jwks = createRemoteJWKSet(new URL(this.#metadata.jwks_uri), {
        timeoutDuration: this.#timeoutMs,
        cooldownDuration: this.#jwksCooldownMs,
      });
      this.#logger.info({ idp: this.id, issuer: this.#config.issuer }, 'OpenID Connect provider ready');
    } catch (err) {
      const { message, cause } = err as { message?: string; cause?: { message?: string; code?: string } };
      this.#problem = clip(`${message ?? String(err)}${cause?.code ? ` (${cause.code})` : ''}`, 300);
      this.#logger.warn(
        { idp: this.id, issuer: this.#config.issuer, reason: this.#problem, retryInSeconds: this.#retryMs / 1000 },
        'OpenID Connect provider unavailable: its discovery failed; retrying',
      );
      if (!this.#stopped) {
        this.#timer = setTimeout(() => void this.start(), this.#retryMs);
        this.#timer.unref();
        this.#retryMs = Math.min(this.#retryMs * 2, this.#maxRetryMs);
      }
    }
  }

  /** OpenID Connect Discovery §4.3: the issuer must be exactly the configured one. */
  #check(doc: unknown): Metadata {
    if (!isRecord(doc)) throw new Error('the discovery document is not a JSON object');
    if (doc.issuer !== this.#config.issuer && doc.issuer !== `${this.#config.issuer}/`) {
      throw new Error(`the discovery document names the issuer ${JSON.stringify(doc.issuer)}, not OIDC_ISSUER`);
    }
    for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (!secure(doc[field])) throw new Error(`the discovery document has no https ${field}`);
    }
    if (doc.userinfo_endpoint !== undefined && !secure(doc.userinfo_endpoint)) {
      throw new Error('the discovery document has a userinfo_endpoint that is not https');
    }
    return doc as unknown as Metadata;
  }

  /** The issuer exactly as the provider writes it (`iss` of its ID tokens). */
  get #issuer(): string {
    return this.#metadata!.issuer;
  }

  async authorizationUrl(binding: LoginBinding): Promise<string> {
    if (!this.#metadata) await this.start();
    if (!this.#metadata) {
      throw new UpstreamError(`${this.displayName} is unavailable right now. Try again in a moment.`, this.#problem, {
        status: 503,
      });
    }
    const url = new URL(this.#metadata.authorization_endpoint);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: this.#config.clientId,
      redirect_uri: binding.redirectUri,
      scope: this.#config.scopes.join(' '),
      state: binding.state,
      nonce: binding.nonce,
      // RFC 7636 §4.2.
      code_challenge: createHash('sha256').update(binding.codeVerifier, 'ascii').digest('base64url'),
      code_challenge_method: 'S256',
    })) {
      url.searchParams.set(k, v);
    }
    return url.href;
  }

  async complete(params: { code: string } & Omit<LoginBinding, 'state'>): Promise<UpstreamUser> {
    if (!this.#metadata)
      throw new UpstreamError(`${this.displayName} is unavailable right now.`, this.#problem, { status: 503 });
    // Held in this frame only: never stored, logged or put into an error.
    const tokens = await this.#exchange(params);
    const claims = await this.#validate(tokens.id_token, params.nonce);
    const info = tokens.access_token ? await this.#userinfo(tokens.access_token, claims.sub!) : {};
    const all: Record<string, unknown> = { ...claims, ...info, sub: claims.sub };
    return userOf(all);
  }

  /** Core §3.1.3: the code for tokens, authenticated as the provider prefers (basic, else post). */
  async #exchange(params: { code: string; codeVerifier: string; redirectUri: string }) {
    const methods = this.#metadata!.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    const basic = methods.includes('client_secret_basic') || !methods.includes('client_secret_post');
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.code,
      redirect_uri: params.redirectUri,
      code_verifier: params.codeVerifier,
    });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (basic) {
      // RFC 6749 §2.3.1: form-urlencoded, then Basic.
      const id = encodeURIComponent(this.#config.clientId);
      const secret = encodeURIComponent(this.#config.clientSecret);
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    } else {
      body.set('client_id', this.#config.clientId);
      body.set('client_secret', this.#config.clientSecret);
    }
    const json = await this.#json('token', this.#metadata!.token_endpoint, {
      method: 'POST',
      headers,
      body: body.toString(),
    });
    if (typeof json.error === 'string') {
      const description = typeof json.error_description === 'string' ? `: ${clip(json.error_description, 100)}` : '';
      throw new UpstreamError(
        `${this.displayName} did not accept the sign-in (${clip(json.error, 60)}${description}). Start the sign-in again.`,
        `token endpoint: ${clip(json.error, 60)}`,
      );
    }
    if (typeof json.id_token !== 'string') {
      throw new UpstreamError(this.#unexpected(), 'token endpoint: no id_token in the answer');
    }
    return {
      id_token: json.id_token,
      access_token: typeof json.access_token === 'string' && json.access_token ? json.access_token : undefined,
    };
  }

  /** Core §3.1.3.7. Every refusal names its reason, for the page and the log. */
  async #validate(idToken: string, nonce: string): Promise<JWTPayload> {
    const supported = this.#metadata!.id_token_signing_alg_values_supported ?? ['RS256'];
    const algorithms = supported.filter((a) => ASYMMETRIC.has(a));
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, this.#jwks!, {
        issuer: this.#issuer,
        audience: this.#config.clientId,
        algorithms: algorithms.length ? algorithms : ['RS256'],
        clockTolerance: CLOCK_TOLERANCE,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      throw this.#refused(idTokenProblem(err), err);
    }
    // Core §3.1.3.7 (4, 5): with several audiences `azp` must be there; when there, it must be us.
    const several = Array.isArray(payload.aud) && payload.aud.length > 1;
    if ((several || payload.azp !== undefined) && payload.azp !== this.#config.clientId) {
      throw this.#refused('it was issued to another application (azp)');
    }
    // Core §3.1.3.7 (11): the nonce this login sent, which exists once (interactions/login.ts).
    if (typeof payload.nonce !== 'string' || payload.nonce !== nonce) {
      throw this.#refused('its nonce does not belong to this sign-in (a replayed or foreign ID token)');
    }
    if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 255) {
      throw this.#refused('its subject is missing or too long');
    }
    return payload;
  }

  /** Core §5.3; §5.3.4: UserInfo's `sub` must be the ID token's. Optional: a failure is no extra claims. */
  async #userinfo(accessToken: string, sub: string): Promise<Record<string, unknown>> {
    const endpoint = this.#metadata!.userinfo_endpoint;
    if (!endpoint) return {};
    let json: Record<string, unknown>;
    try {
      json = await this.#json('userinfo', endpoint, {
        method: 'GET',
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      });
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 502) {
        this.#logger.info({ idp: this.id, reason: err.detail }, 'UserInfo not read; the ID token alone is used');
        return {};
      }
      throw err;
    }
    if (json.sub !== sub) throw this.#refused('UserInfo describes another person (sub)');
    return json;
  }

  async #json(
    what: string,
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string },
  ): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const { name, message } = err as { name?: string; message?: string };
      throw new UpstreamError(
        `${this.displayName} could not be reached. Try again in a moment.`,
        `${what}: ${name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : clip(String(message))}`,
        { status: 503 },
      );
    }
    const text = await res.text();
    if (res.status >= 500) {
      throw new UpstreamError(
        `${this.displayName} is having trouble (HTTP ${res.status}). Try again in a moment.`,
        `${what}: HTTP ${res.status}`,
        {
          status: 503,
        },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    // RFC 6749 §5.2: token errors are 400/401 with a JSON body.
    if (!isRecord(json) || (res.status !== 200 && typeof json.error !== 'string')) {
      throw new UpstreamError(this.#unexpected(), `${what}: HTTP ${res.status}, not the JSON expected`);
    }
    return json;
  }

  #unexpected(): string {
    return `${this.displayName} sent an answer the gateway did not understand. Try again later, or tell the operator.`;
  }

  #refused(reason: string, cause?: unknown): UpstreamError {
    return new UpstreamError(
      `The sign-in with ${this.displayName} was refused: the ID token ${reason}. Start the sign-in again.`,
      `id_token refused: ${reason}`,
      { cause },
    );
  }
}

/** What was wrong with an ID token, in words (jose's errors, read by code). */
function idTokenProblem(err: unknown): string {
  if (err instanceof jose.JWTExpired) return 'has expired';
  if (err instanceof jose.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'comes from another issuer (iss)';
    if (err.claim === 'aud') return 'is for another application (aud)';
    return `has an invalid "${err.claim}" claim`;
  }
  if (err instanceof jose.JOSEAlgNotAllowed) return 'is signed with an algorithm that is not accepted (alg)';
  if (err instanceof jose.JWKSNoMatchingKey) return 'is signed with a key the provider does not publish (kid)';
  if (err instanceof jose.JWSSignatureVerificationFailed) return 'has a signature that does not verify';
  if (err instanceof jose.JWKSTimeout || err instanceof jose.JOSEError) {
    const code = (err as jose.JOSEError).code;
    if (code === 'ERR_JWKS_TIMEOUT') return "could not be checked: the provider's keys did not arrive";
  }
  return 'is not a valid signed JWT';
}

/** The person, from the claims (OpenID Connect Core §5.1). */
function userOf(claims: Record<string, unknown>): UpstreamUser {
  const sub = claims.sub as string;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
  const email = str(claims.email);
  // Some providers send the boolean as a string.
  const verified = claims.email_verified === true || claims.email_verified === 'true';
  const groups = Array.isArray(claims.groups)
    ? claims.groups.filter((g): g is string => typeof g === 'string' && g !== '').slice(0, MAX_GROUPS)
    : [];
  return {
    id: `oidc:${sub}`,
    login: str(claims.preferred_username) ?? email ?? sub,
    name: str(claims.name),
    ...(email ? { email, emailVerified: verified } : {}),
    ...(groups.length ? { groups } : {}),
    provider: 'oidc',
  };
}
