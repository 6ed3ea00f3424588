/**
 * The gateway as a client of an upstream's authorization server (`MCP_<S>_AUTH=user`), when no
 * client is configured (design: "Absent for user"):
 *   - a Client ID Metadata Document, when the server advertises
 *     `client_id_metadata_document_supported`: the client id is the document's URL,
 *     `$PUBLIC_URL/.well-known/oauth-client/<S>`, and nothing is registered or stored;
 *   - else RFC 7591 dynamic registration, once: the answer (client id, and secret when the
 *     server issued one) is kept in storage, sealed like upstream tokens, and reused until the
 *     secret expires (`client_secret_expires_at`), when the gateway registers again.
 * The gateway is a confidential client where the server allows it (it keeps secrets server-side);
 * a server that only takes public clients gets `none`, PKCE protecting the code either way.
 */
import type { Json, Store } from '../storage/store.ts';
import { upstreamClientKey } from '../storage/keys.ts';
import type { UpstreamAuthorization } from './discovery.ts';
import { open, seal, type Sealed } from './token-vault.ts';

export interface UpstreamClient {
  clientId: string;
  clientSecret?: string;
  /** How the gateway authenticates at the token endpoint. */
  tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Epoch seconds; 0 or absent: the secret does not expire (RFC 7591 §3.2.1). */
  clientSecretExpiresAt?: number;
  via: 'metadata_document' | 'registration';
}

export class UpstreamRegistrationError extends Error {
  readonly reason: 'no_registration' | 'refused' | 'unreachable' | 'malformed';
  constructor(reason: UpstreamRegistrationError['reason'], message: string) {
    super(message);
    this.name = 'UpstreamRegistrationError';
    this.reason = reason;
  }
}

export interface RegistrationOptions {
  store: Store;
  /** The key upstream secrets are sealed with (token-vault.ts loadUpstreamKey). */
  sealingKey: Buffer;
  publicUrl: string;
  service: string;
  /** Where the upstream sends the browser back: `$PUBLIC_URL/upstream/callback`. */
  redirectUri: string;
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * What the gateway says of itself as a client of an upstream's authorization server, in its
 * Client ID Metadata Document and in an RFC 7591 registration alike (RFC 7591 §2).
 * application_type (OpenID Connect Registration §2, MCP SEP-837): a web application, the gateway
 * being a server with https redirect URIs.
 */
function clientMetadata(
  publicUrl: string,
  service: string,
  redirectUri: string,
  tokenEndpointAuthMethod: UpstreamClient['tokenEndpointAuthMethod'],
): Record<string, unknown> {
  return {
    application_type: 'web',
    client_name: `MCP OAuth Gateway (${service})`,
    client_uri: publicUrl,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: tokenEndpointAuthMethod,
  };
}

/** The document a Client ID Metadata Document server fetches (served at the client id URL). */
export function clientMetadataDocument(
  publicUrl: string,
  service: string,
  redirectUri: string,
): Record<string, unknown> {
  return {
    client_id: `${publicUrl}/.well-known/oauth-client/${service}`,
    ...clientMetadata(publicUrl, service, redirectUri, 'none'),
  };
}

/** RFC 8414 §2: a server that lists no methods supports client_secret_basic. */
function confidentialMethod(as: UpstreamAuthorization): UpstreamClient['tokenEndpointAuthMethod'] {
  const methods = as.tokenEndpointAuthMethods.length ? as.tokenEndpointAuthMethods : ['client_secret_basic'];
  if (methods.includes('client_secret_basic')) return 'client_secret_basic';
  if (methods.includes('client_secret_post')) return 'client_secret_post';
  return 'none';
}

export async function upstreamClient(as: UpstreamAuthorization, options: RegistrationOptions): Promise<UpstreamClient> {
  const { store, sealingKey, publicUrl, service, redirectUri } = options;
  if (as.clientIdMetadataDocumentSupported) {
    return {
      clientId: String(clientMetadataDocument(publicUrl, service, redirectUri).client_id),
      tokenEndpointAuthMethod: 'none',
      via: 'metadata_document',
    };
  }
  if (!as.registrationEndpoint) {
    throw new UpstreamRegistrationError(
      'no_registration',
      `${as.issuer} offers neither Client ID Metadata Documents nor dynamic registration: set MCP_${service.toUpperCase().replaceAll('-', '_')}_CLIENT_ID (and _CLIENT_SECRET)`,
    );
  }
  const where = upstreamClientKey(service, as.issuer);
  const now = Math.floor((options.now ?? Date.now)() / 1000);
  const kept = open<UpstreamClient>(sealingKey, where, (await store.get<Json>(where)) as Partial<Sealed> | undefined);
  // A secret about to expire is replaced now rather than in the middle of a login.
  if (kept && (!kept.clientSecretExpiresAt || kept.clientSecretExpiresAt > now + 60)) return kept;

  const method = confidentialMethod(as);
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(as.registrationEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(clientMetadata(publicUrl, service, redirectUri, method)),
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new UpstreamRegistrationError('unreachable', `${as.registrationEndpoint}: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!res.ok) {
    // RFC 7591 §3.2.2: error and error_description.
    const code = typeof body?.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw new UpstreamRegistrationError('refused', `${as.issuer} refused the registration (${code})`);
  }
  const clientId = body?.client_id;
  const secret = body?.client_secret;
  if (typeof clientId !== 'string' || !clientId || (method !== 'none' && typeof secret !== 'string')) {
    throw new UpstreamRegistrationError('malformed', `${as.issuer} answered the registration without a client`);
  }
  const client: UpstreamClient = {
    clientId,
    ...(typeof secret === 'string' ? { clientSecret: secret } : {}),
    tokenEndpointAuthMethod: typeof secret === 'string' ? method : 'none',
    ...(typeof body?.client_secret_expires_at === 'number'
      ? { clientSecretExpiresAt: body.client_secret_expires_at }
      : {}),
    via: 'registration',
  };
  await store.set(where, seal(sealingKey, where, client) as unknown as Json);
  return client;
}
