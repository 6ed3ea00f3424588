/**
 * Where an upstream MCP server's authorization lives, found as an MCP client finds it (MCP
 * 2025-11-25, basic/authorization, "Authorization Server Discovery"):
 *   1. the `resource_metadata` of the server's 401 challenge (RFC 9728 §5.1), else its protected
 *      resource metadata at the well-known URL, path-suffixed first, then at the root (§3.1);
 *      the metadata's `resource` must be the server's URL (§3.3);
 *   2. the first of its `authorization_servers`, whose metadata is tried at every location the spec
 *      lists (RFC 8414 §3.1 path insertion, OpenID Connect Discovery with path insertion and
 *      appending); its `issuer` must be the one asked for (RFC 8414 §3.3);
 *   3. a server with no protected resource metadata is taken as the 2025-03-26 revision says: its
 *      origin is the authorization server, with RFC 8414 metadata or else the default endpoints
 *      /authorize, /token and /register.
 * Explicit endpoints (`MCP_<S>_AUTHORIZATION_URL`, `MCP_<S>_TOKEN_URL`) skip all of it.
 */
import { isLoopbackHost } from '../../../contracts/loopback.ts';

export interface UpstreamAuthorization {
  /** The resource indicator to ask tokens for (RFC 8707): the server's URL, or its PRM `resource`. */
  resource: string;
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint?: string;
  revocationEndpoint?: string;
  /** The authorization server accepts Client ID Metadata Documents. */
  clientIdMetadataDocumentSupported: boolean;
  codeChallengeMethods: string[];
  tokenEndpointAuthMethods: string[];
  /** Scopes to ask for, from the challenge or the PRM, when the settings name none. */
  scope?: string;
  /** The server puts `iss` in its authorization responses (RFC 9207 §3). */
  issuerInResponse?: boolean;
  /** How it was found: `prm` (the current spec), `legacy` (2025-03-26, no PRM), or configured endpoints. */
  via: 'prm' | 'legacy' | 'explicit';
}

export type DiscoveryFailure = 'insecure' | 'unreachable' | 'resource_mismatch' | 'issuer_mismatch' | 'no_metadata';

export class UpstreamDiscoveryError extends Error {
  readonly reason: DiscoveryFailure;
  constructor(reason: DiscoveryFailure, message: string) {
    super(message);
    this.name = 'UpstreamDiscoveryError';
    this.reason = reason;
  }
}

export interface DiscoveryOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** https, or http to a loopback host only (design: upstream URLs; OAuth 2.1 §1.5). */
export function checkSecure(url: URL, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new UpstreamDiscoveryError('insecure', `${what} ${url.href} must be https (http only on loopback)`);
}

type Json = Record<string, unknown>;

async function getJson(url: string, options: DiscoveryOptions): Promise<Json | undefined> {
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new UpstreamDiscoveryError('unreachable', `${url}: ${(err as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  try {
    const body: unknown = await res.json();
    return body && typeof body === 'object' && !Array.isArray(body) ? (body as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** A challenge's auth-params (RFC 9110 §11.2, quoted-string or token values). */
export function challengeParams(header: string | null): Record<string, string> {
  const params: Record<string, string> = {};
  if (!header || !/^bearer\b/i.test(header.trim())) return params;
  for (const m of header.matchAll(/([a-z_][a-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return params;
}

/** RFC 9728 §3.1: the path-suffixed location first, then the root. */
function prmLocations(server: URL): string[] {
  const path = server.pathname.replace(/\/$/, '');
  const root = `${server.origin}/.well-known/oauth-protected-resource`;
  return path && path !== '/' ? [`${root}${path}`, root] : [root];
}

/** MCP authorization, "Authorization Server Metadata Discovery": every location, in order. */
function metadataLocations(issuer: URL): string[] {
  const path = issuer.pathname.replace(/\/$/, '');
  if (!path) {
    return [
      `${issuer.origin}/.well-known/oauth-authorization-server`,
      `${issuer.origin}/.well-known/openid-configuration`,
    ];
  }
  return [
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer.origin}/.well-known/openid-configuration${path}`,
    `${issuer.origin}${path}/.well-known/openid-configuration`,
  ];
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The same URL, ignoring a trailing slash and the case of scheme and host. */
function sameResource(a: string, b: string): boolean {
  const norm = (s: string) => {
    const u = URL.parse(s);
    return u ? `${u.origin}${u.pathname.replace(/\/$/, '')}${u.search}` : s;
  };
  return norm(a) === norm(b);
}

/**
 * Whether protected resource metadata found at `location` may describe `server`. RFC 9728 §3.3:
 * its `resource` is the identifier into which the well-known suffix was inserted to make
 * `location`: the server's URL for the path-suffixed location, its origin for the root one. A
 * location named by the server's challenge (§5.1) may describe the server or a resource that
 * contains it: the same origin, a path the server's path lies under (as the MCP SDK's clients
 * check it, checkResourceAllowed).
 */
function resourceDescribes(resource: string, server: URL, location: string, fromChallenge: boolean): boolean {
  if (sameResource(resource, server.href)) return true;
  const r = URL.parse(resource);
  if (!r || r.origin !== server.origin || r.search || r.hash) return false;
  if (!fromChallenge)
    return (
      location === `${server.origin}/.well-known/oauth-protected-resource` && sameResource(resource, server.origin)
    );
  const dir = (p: string) => (p.endsWith('/') ? p : `${p}/`);
  return dir(server.pathname).startsWith(dir(r.pathname));
}

export async function discoverUpstream(
  serverUrl: string,
  options: DiscoveryOptions = {},
): Promise<UpstreamAuthorization> {
  const server = new URL(serverUrl);
  checkSecure(server, 'the upstream MCP server');

  // 1. The challenge: MCP requests without a token, as a client starts. A server that lets
  // `initialize` through without one (it challenges per operation) is asked for `tools/list`,
  // what a client asks next, in the session it opened, if any.
  const probe = async (method: string, id: number, headers: Record<string, string> = {}) => {
    try {
      const res = await (options.fetch ?? fetch)(server, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id,
          method,
          params:
            method === 'initialize'
              ? {
                  protocolVersion: '2025-11-25',
                  capabilities: {},
                  clientInfo: { name: 'mcp-oauth-gateway', version: '1' },
                }
              : {},
        }),
        redirect: 'error',
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      return res;
    } catch (err) {
      throw new UpstreamDiscoveryError('unreachable', `${server.href}: ${(err as Error).message}`);
    }
  };
  let challenge: Record<string, string> = {};
  const opened = await probe('initialize', 0);
  if (opened.status === 401) {
    challenge = challengeParams(opened.headers.get('www-authenticate'));
  } else if (opened.ok) {
    const session = opened.headers.get('mcp-session-id');
    const listed = await probe('tools/list', 1, {
      'mcp-protocol-version': '2025-11-25',
      ...(session ? { 'mcp-session-id': session } : {}),
    });
    if (listed.status === 401) challenge = challengeParams(listed.headers.get('www-authenticate'));
  }

  let prm: Json | undefined;
  let found = '';
  for (const location of challenge.resource_metadata ? [challenge.resource_metadata] : prmLocations(server)) {
    const url = URL.parse(location);
    if (!url) continue;
    checkSecure(url, 'the protected resource metadata');
    prm = await getJson(url.href, options);
    found = url.href;
    if (prm) break;
  }

  if (!prm) return legacy(server, challenge.scope, options);

  const resource = str(prm.resource);
  // RFC 9728 §3.3: the metadata is for this server, or it is not to be used.
  if (!resource || !resourceDescribes(resource, server, found, challenge.resource_metadata !== undefined)) {
    throw new UpstreamDiscoveryError(
      'resource_mismatch',
      `the protected resource metadata is for ${resource ?? 'no resource'}, not ${server.href}`,
    );
  }
  const issuer = strings(prm.authorization_servers)[0];
  if (!issuer || !URL.canParse(issuer)) {
    throw new UpstreamDiscoveryError('no_metadata', 'the protected resource metadata names no authorization server');
  }
  const scope = challenge.scope ?? (strings(prm.scopes_supported).join(' ') || undefined);
  return { ...(await authorizationServer(new URL(issuer), options)), resource, scope, via: 'prm' };
}

async function authorizationServer(
  issuer: URL,
  options: DiscoveryOptions,
): Promise<Omit<UpstreamAuthorization, 'resource' | 'scope' | 'via'>> {
  checkSecure(issuer, 'the authorization server');
  const expected = issuer.href.replace(/\/$/, '');
  for (const location of metadataLocations(issuer)) {
    const metadata = await getJson(location, options);
    if (!metadata) continue;
    // RFC 8414 §3.3: the issuer in the metadata is the one whose metadata was asked for.
    if (str(metadata.issuer)?.replace(/\/$/, '') !== expected) {
      throw new UpstreamDiscoveryError(
        'issuer_mismatch',
        `the authorization server metadata at ${location} is for ${String(metadata.issuer)}, not ${expected}`,
      );
    }
    return fromMetadata(metadata, str(metadata.issuer)!);
  }
  throw new UpstreamDiscoveryError('no_metadata', `no authorization server metadata for ${expected}`);
}

function fromMetadata(metadata: Json, issuer: string): Omit<UpstreamAuthorization, 'resource' | 'scope' | 'via'> {
  const authorizationEndpoint = str(metadata.authorization_endpoint);
  const tokenEndpoint = str(metadata.token_endpoint);
  if (!authorizationEndpoint || !tokenEndpoint) {
    throw new UpstreamDiscoveryError(
      'no_metadata',
      `the metadata of ${issuer} lacks its authorization or token endpoint`,
    );
  }
  for (const endpoint of [authorizationEndpoint, tokenEndpoint]) checkSecure(new URL(endpoint), 'an endpoint');
  return {
    issuer,
    authorizationEndpoint,
    tokenEndpoint,
    registrationEndpoint: str(metadata.registration_endpoint),
    revocationEndpoint: str(metadata.revocation_endpoint),
    clientIdMetadataDocumentSupported: metadata.client_id_metadata_document_supported === true,
    codeChallengeMethods: strings(metadata.code_challenge_methods_supported),
    tokenEndpointAuthMethods: strings(metadata.token_endpoint_auth_methods_supported),
    issuerInResponse: metadata.authorization_response_iss_parameter_supported === true,
  };
}

/** MCP 2025-03-26: no PRM; the server's origin is the authorization server. */
async function legacy(
  server: URL,
  scope: string | undefined,
  options: DiscoveryOptions,
): Promise<UpstreamAuthorization> {
  const origin = server.origin;
  const metadata = await getJson(`${origin}/.well-known/oauth-authorization-server`, options);
  const base = metadata
    ? fromMetadata(metadata, str(metadata.issuer) ?? origin)
    : {
        // 2025-03-26, "Fallbacks for Servers without Metadata Discovery".
        issuer: origin,
        authorizationEndpoint: `${origin}/authorize`,
        tokenEndpoint: `${origin}/token`,
        registrationEndpoint: `${origin}/register`,
        revocationEndpoint: undefined,
        clientIdMetadataDocumentSupported: false,
        codeChallengeMethods: ['S256'],
        tokenEndpointAuthMethods: [],
      };
  return { ...base, resource: server.href, scope, via: 'legacy' };
}
