/** A plain OAuth client for protocol tests: every request spelled out, nothing hidden. */
import { createHash, randomBytes } from 'node:crypto';

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export interface Registered {
  client_id: string;
  client_secret?: string;
  registration_access_token?: string;
  registration_client_uri?: string;
  [key: string]: unknown;
}

export async function register(
  base: string,
  metadata: Record<string, unknown>,
): Promise<{ status: number; body: Registered & { error?: string; error_description?: string } }> {
  const res = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  return { status: res.status, body: (await res.json()) as Registered };
}

export async function registerOk(base: string, metadata: Record<string, unknown>): Promise<Registered> {
  const { status, body } = await register(base, metadata);
  if (status !== 201) throw new Error(`registration failed: ${status} ${JSON.stringify(body)}`);
  return body;
}

export function authorizeUrl(base: string, params: Record<string, string | string[] | undefined>): string {
  const url = new URL('/authorize', base);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item);
  }
  return url.href;
}

export interface TokenResponse {
  status: number;
  body: {
    access_token?: string;
    refresh_token?: string;
    token_type?: string;
    expires_in?: number;
    scope?: string;
    id_token?: string;
    error?: string;
    error_description?: string;
    /** RFC 7662 */
    active?: boolean;
    [claim: string]: unknown;
  };
}

export type ClientAuth =
  | { method: 'none'; clientId: string }
  | { method: 'client_secret_post' | 'client_secret_basic'; clientId: string; clientSecret: string };

export async function tokenRequest(
  base: string,
  auth: ClientAuth,
  params: Record<string, string | undefined>,
  path = '/token',
): Promise<TokenResponse> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.append(k, v);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth.method === 'client_secret_basic') {
    // RFC 6749 §2.3.1: form-encode id and secret before base64.
    const id = encodeURIComponent(auth.clientId);
    const secret = encodeURIComponent(auth.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  } else {
    form.set('client_id', auth.clientId);
    if (auth.method === 'client_secret_post') form.set('client_secret', auth.clientSecret);
  }
  const res = await fetch(new URL(path, base), { method: 'POST', headers, body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}
