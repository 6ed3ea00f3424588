/**
 * Client metadata as this gateway reads it, whatever the client sent: applied by oidc-provider's
 * extraClientMetadata validator to every client it builds — registered (RFC 7591/7592), fetched
 * as a Client ID Metadata Document, or loaded from storage — before its own validation runs.
 */
import { errors } from 'oidc-provider';
import { isLoopbackRedirectHost } from '../../../contracts/loopback.ts';

/** RFC 7591 §2 fields oidc-provider does not know; declaring them lets the policy hook run. */
export const EXTRA_CLIENT_METADATA = ['software_id', 'software_version'];

const isLoopbackHttp = (u: URL) => u.protocol === 'http:' && isLoopbackRedirectHost(u.hostname);
const isPrivateUseScheme = (u: URL) => u.protocol !== 'http:' && u.protocol !== 'https:';

type Metadata = Record<string, unknown>;

export interface ClientPolicyOptions {
  clientLifetime: number;
}

export function applyClientPolicy(metadata: Metadata, route: string | undefined, options: ClientPolicyOptions): void {
  const uris = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  const parsed = uris.map((u) => (typeof u === 'string' ? URL.parse(u) : null)).filter((u): u is URL => u !== null);
  // RFC 8252 §7: loopback and private-use-scheme redirects belong to native apps, whatever the
  // client declared or omitted (most MCP clients omit application_type, whose RFC 7591 default
  // is "web"); native apps get port-agnostic loopback matching (§7.3) and custom schemes.
  if (parsed.some((u) => isLoopbackHttp(u) || isPrivateUseScheme(u))) metadata.application_type = 'native';
  // OAuth 2.1 §2.3.1: redirect URIs use https, except loopback ones (RFC 8252 §7.3).
  const clearText = parsed.find((u) => u.protocol === 'http:' && !isLoopbackHttp(u));
  if (clearText) {
    // (a description starting with "redirect_uris" makes it invalid_redirect_uri, RFC 7591 §3.2.2)
    throw new errors.InvalidClientMetadata(`redirect_uris must use https, except loopback ones (${clearText.href})`);
  }

  // Every MCP client gets a refresh token (clients.md): allow the grant wherever codes are.
  const grants = Array.isArray(metadata.grant_types) ? [...(metadata.grant_types as unknown[])] : [];
  if (grants.includes('authorization_code') && !grants.includes('refresh_token')) grants.push('refresh_token');
  metadata.grant_types = grants;

  // Scopes are decided per request and consent, not per client: clients register values such
  // as `claudeai` that mean nothing here. A registered scope is accepted and not kept.
  delete metadata.scope;

  // RFC 7591 §3.2.1: the secret expires with the registration (0: never).
  if (route === 'registration' && options.clientLifetime > 0 && metadata.token_endpoint_auth_method !== 'none') {
    // (oidc-provider presets 0 for every new secret.)
    if (!metadata.client_secret_expires_at)
      metadata.client_secret_expires_at = Math.floor(Date.now() / 1000) + options.clientLifetime;
  }

  for (const key of EXTRA_CLIENT_METADATA) {
    if (metadata[key] !== undefined && typeof metadata[key] !== 'string') {
      throw new errors.InvalidClientMetadata(`${key} must be a string`);
    }
  }
}
