/**
 * The official MCP SDK client, authorizing through the gateway like any MCP client: its
 * OAuthClientProvider hands the authorization URL to a Person (tests/support/person.ts) who
 * logs in at the GitHub stand-in and consents; the code goes back through `finishAuth`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { AuthorizeOptions, Person } from './person.ts';

export class TestOAuthProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  authorizationUrl?: URL;
  readonly redirect: string;
  readonly name: string;

  /** `redirect`: where the authorization ends (a browser test's callback server, startCallbackServer). */
  constructor(name = 'MCP SDK test client', redirect = 'http://127.0.0.1:33418/callback') {
    this.name = name;
    this.redirect = redirect;
  }
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  /** As real clients do (the SDK calls it on invalid_grant and invalid_client, then authorizes again). */
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'client') this.info = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = '';
  }
  /** SEP-2352: which authorization server an authorization in flight was started at (v2 clients). */
  discovery?: unknown;
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery as never;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

export interface ConnectOptions {
  person: Person;
  provider?: TestOAuthProvider;
  authorize?: AuthorizeOptions;
  /** Extra headers on every request (to try forging identity headers). */
  headers?: Record<string, string>;
}

/** Connects an SDK client to `serviceUrl`, going through OAuth when the gateway asks for it. */
export async function connectWithOAuth(
  serviceUrl: string,
  options: ConnectOptions,
): Promise<{ client: Client; provider: TestOAuthProvider }> {
  const provider = options.provider ?? new TestOAuthProvider();
  const makeTransport = () =>
    new StreamableHTTPClientTransport(new URL(serviceUrl), {
      authProvider: provider,
      requestInit: { headers: options.headers },
    });
  let transport = makeTransport();
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  try {
    await client.connect(transport);
    return { client, provider };
  } catch (err) {
    await client.close();
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const back = await options.person.authorize(provider.authorizationUrl!.href, options.authorize);
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`authorization failed: ${back.href}`);
  await transport.finishAuth(code);
  transport = makeTransport();
  const connected = new Client({ name: 'gateway-test', version: '1.0.0' });
  await connected.connect(transport);
  return { client: connected, provider };
}

/** An MCP request with a bearer token, as a client sends it: the raw answer (status, challenge). */
export function postMcp(url: string | URL, token: string, method = 'tools/list'): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} }),
  });
}
