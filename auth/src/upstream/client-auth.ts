/**
 * How the gateway authenticates as a client at an upstream's token endpoint, once for every
 * token request it makes (client credentials, authorization code, refresh):
 *   none                  a public client: client_id in the body (OAuth 2.1 §2.4);
 *   client_secret_basic   HTTP Basic, each part form-encoded first (RFC 6749 §2.3.1);
 *   client_secret_post    client_id and client_secret in the body (RFC 6749 §2.3.1);
 *   private_key_jwt       a signed assertion (RFC 7523 §2.2, §3);
 *   tls_client_auth       the TLS client certificate (RFC 8705 §2); client_id in the body.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

export type ClientAuthentication =
  | { method: 'none' }
  | { method: 'client_secret_basic' | 'client_secret_post'; secret: string }
  /**
   * `audience`: the authorization server's issuer when it is known (RFC 7523bis §4: the issuer
   * identifier, not an endpoint, so that an assertion cannot be replayed at another server's
   * endpoint); else the token endpoint (RFC 7523 §3 allows it).
   */
  | { method: 'private_key_jwt'; key: KeyObject; kid?: string; audience?: string }
  /** PEM texts: the client certificate and its key, and the CA that signed the server's, if not public. */
  | { method: 'tls_client_auth'; cert: string; key: string; ca?: string };

/** The algorithm RFC 7518 names for a private key (RFC 7523 §3 lets the client choose it). */
export function signingAlgorithm(key: KeyObject): 'RS256' | 'ES256' | 'ES384' | 'ES512' {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    if (curve === 'secp384r1') return 'ES384';
    if (curve === 'secp521r1') return 'ES512';
  }
  throw new Error(
    `private_key_jwt: an RSA or P-256/P-384/P-521 EC private key is needed, not ${key.asymmetricKeyType}`,
  );
}

/** Adds the client's authentication to a token request's form and headers. */
export function authenticateClient(
  request: { form: URLSearchParams; headers: Record<string, string> },
  client: { clientId: string; tokenUrl: string; auth: ClientAuthentication; nowSeconds: number },
): void {
  const { form, headers } = request;
  const { clientId, auth } = client;
  if (auth.method === 'client_secret_basic') {
    const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(auth.secret)}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    return;
  }
  form.set('client_id', clientId);
  if (auth.method === 'client_secret_post') form.set('client_secret', auth.secret);
  if (auth.method === 'private_key_jwt') {
    form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    // RFC 7523 §3: iss and sub the client, aud the server (its issuer, or its token endpoint), a
    // fresh jti, a short life.
    const now = client.nowSeconds;
    form.set(
      'client_assertion',
      jwt.sign(
        {
          iss: clientId,
          sub: clientId,
          aud: auth.audience ?? client.tokenUrl,
          jti: randomUUID(),
          iat: now,
          exp: now + 60,
        },
        auth.key,
        {
          algorithm: signingAlgorithm(auth.key),
          ...(auth.kid ? { keyid: auth.kid } : {}),
        },
      ),
    );
  }
}

export type UpstreamTokenFailure = 'refused' | 'unavailable' | 'malformed' | 'scope';

/** The upstream would not give a token; `reason` is for logs and metrics, never a secret. */
export class UpstreamTokenError extends Error {
  readonly reason: UpstreamTokenFailure;
  /** The upstream's OAuth error code, when it sent one (RFC 6749 §5.2). */
  readonly oauthError?: string;
  readonly status?: number;
  constructor(reason: UpstreamTokenFailure, message: string, details: { oauthError?: string; status?: number } = {}) {
    super(message);
    this.name = 'UpstreamTokenError';
    this.reason = reason;
    this.oauthError = details.oauthError;
    this.status = details.status;
  }
}

/** A successful token response (RFC 6749 §5.1), as far as the gateway uses it. */
export interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  /** Seconds; absent when the server did not say. */
  expires_in?: number;
  scope?: string;
}

/**
 * One token request with the client's authentication: network errors and 5xx are `unavailable`
 * (worth retrying), other errors `refused` with the server's OAuth error (RFC 6749 §5.2), an answer
 * without a Bearer access token `malformed`.
 */
export async function requestToken(request: {
  tokenUrl: string;
  clientId: string;
  auth: ClientAuthentication;
  params: Record<string, string>;
  nowSeconds: number;
  fetch: typeof fetch;
  timeoutMs?: number;
}): Promise<TokenAnswer> {
  const { tokenUrl } = request;
  const form = new URLSearchParams(request.params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  authenticateClient({ form, headers }, request);
  let res: Response;
  try {
    res = await request.fetch(tokenUrl, {
      method: 'POST',
      headers,
      body: form,
      redirect: 'error',
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new UpstreamTokenError('unavailable', `${tokenUrl} unreachable: ${(err as Error).message}`);
  }
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    body =
      parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  if (res.status >= 500) {
    throw new UpstreamTokenError('unavailable', `${tokenUrl} answered ${res.status}`, { status: res.status });
  }
  // GitHub answers token errors with 200 and an `error` member (its OAuth apps' documented
  // behaviour, "Troubleshooting OAuth app access token request errors"): an error either way.
  if (!res.ok || typeof body?.error === 'string') {
    const code = typeof body?.error === 'string' ? body.error : undefined;
    throw new UpstreamTokenError('refused', `${tokenUrl} refused the request (${code ?? `HTTP ${res.status}`})`, {
      oauthError: code,
      status: res.status,
    });
  }
  const token = body?.access_token;
  const type = body?.token_type;
  if (typeof token !== 'string' || !token || typeof type !== 'string' || type.toLowerCase() !== 'bearer') {
    throw new UpstreamTokenError('malformed', `${tokenUrl} answered without a Bearer access_token`);
  }
  return {
    access_token: token,
    ...(typeof body?.refresh_token === 'string' ? { refresh_token: body.refresh_token } : {}),
    ...(typeof body?.expires_in === 'number' && body.expires_in > 0 ? { expires_in: body.expires_in } : {}),
    ...(typeof body?.scope === 'string' ? { scope: body.scope } : {}),
  };
}
