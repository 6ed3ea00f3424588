/**
 * A remote MCP server with OAuth of its own, made of real parts on loopback, for the gateway to be
 * a client of (issue 11):
 *   - an authorization server: oidc-provider itself, with dynamic registration (RFC 7591), PKCE,
 *     resource indicators (RFC 8707, audience = the MCP server), opaque access tokens of a short
 *     lifetime, refresh tokens, introspection, revocation (RFC 7009), RFC 9207 `iss`, client
 *     credentials, and its development login and consent pages (a person clicks through them);
 *   - an MCP server (the official SDK, stateless Streamable HTTP) that requires its tokens: every
 *     request is introspected at the authorization server; without an active token for it, 401 with
 *     an RFC 9728 challenge; its protected resource metadata names the authorization server.
 * It records what it saw (tokens, 401s, who called) and can end every grant of a user at once, as a
 * person revoking the app at the provider would.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type AdapterPayload } from 'oidc-provider';
import { memoryAdapter, quietOidcProviderNotes } from './memory-adapter.ts';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface UpstreamStandin {
  /** The authorization server's issuer. */
  issuer: string;
  /** The MCP endpoint, `…/mcp`. */
  mcpUrl: string;
  /** Access tokens the MCP server accepted, in order. */
  accepted: string[];
  /** Requests the MCP server answered 401, by why: `none` (no token) or `inactive`. */
  unauthorized: { none: number; inactive: number };
  /** Every access and refresh token the authorization server ever issued (their text). */
  issued: () => string[];
  /** Live refresh tokens and access tokens of a user. */
  liveTokens: (accountId: string) => number;
  /** Ends every grant of the user: their tokens are inactive and their refresh tokens refused. */
  revokeUser: (accountId: string) => void;
  /** Requests to the authorization server's endpoints, as `METHOD /path`. */
  requests: string[];
  stop(): Promise<void>;
}

export interface UpstreamStandinOptions {
  /** Access token lifetime in seconds. */
  accessTokenTtl: number;
  /** Scopes of the MCP server (PRM scopes_supported). */
  scopes?: string[];
  /** Pre-registered clients (client credentials tests). */
  clients?: Record<string, unknown>[];
  /** Other resource servers tokens may be asked for (their URLs), besides its own MCP server. */
  resources?: string[];
}

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

export async function startUpstreamStandin(options: UpstreamStandinOptions): Promise<UpstreamStandin> {
  const scopes = options.scopes ?? ['mcp:tools'];
  const asServer = createServer();
  const mcpServer = createServer();
  const asPort = await listen(asServer);
  const mcpPort = await listen(mcpServer);
  const issuer = `http://127.0.0.1:${asPort}`;
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;

  /** Every access and refresh token ever issued, revoked ones included. */
  const everIssued = new Set<string>();
  // Storage the test can see into: every model by name and id.
  const models = new Map<string, Map<string, AdapterPayload>>();
  const table = (name: string) => models.get(name) ?? models.set(name, new Map()).get(name)!;
  const StandinAdapter = memoryAdapter(models, {
    onUpsert: (model, id) => {
      if (['AccessToken', 'RefreshToken', 'ClientCredentials'].includes(model)) everIssued.add(id);
    },
  });

  const restoreConsole = quietOidcProviderNotes();
  const provider = new Provider(issuer, {
    adapter: StandinAdapter,
    clients: [
      // The MCP server introspects with this one.
      {
        client_id: 'mcp-server',
        client_secret: 'mcp-server-secret',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
      ...((options.clients ?? []) as never[]),
    ],
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    scopes: ['openid', 'offline_access', ...scopes],
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
      revocation: { enabled: true, allowedPolicy: () => true },
      introspection: { enabled: true, allowedPolicy: () => true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => mcpUrl,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== mcpUrl && !options.resources?.includes(resource)) {
            throw new Error(`unknown resource ${resource}`);
          }
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenTTL: options.accessTokenTtl,
            accessTokenFormat: 'opaque',
          };
        },
      },
    },
    // A refresh token whether or not offline_access was asked for (as many MCP servers do).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      Interaction: 600,
      Session: 3600,
      AccessToken: options.accessTokenTtl,
      RefreshToken: 86_400,
      Grant: 86_400,
      ClientCredentials: options.accessTokenTtl,
    },
    rotateRefreshToken: true,
  });
  restoreConsole();
  provider.on('server_error', (_ctx, err) => console.error('upstream stand-in:', err));
  const requests: string[] = [];
  const asHandler = provider.callback();
  asServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
    asHandler(req, res);
  });

  const accepted: string[] = [];
  const unauthorized = { none: 0, inactive: 0 };
  const challenge = `Bearer resource_metadata="http://127.0.0.1:${mcpPort}/.well-known/oauth-protected-resource/mcp", scope="${scopes.join(' ')}"`;

  async function introspect(token: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('mcp-server:mcp-server-secret').toString('base64')}`,
      },
      body: new URLSearchParams({ token }),
    });
    return (await res.json()) as Record<string, unknown>;
  }

  mcpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/.well-known/oauth-protected-resource/mcp' || path === '/.well-known/oauth-protected-resource') {
        const body = JSON.stringify({ resource: mcpUrl, authorization_servers: [issuer], scopes_supported: scopes });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        return;
      }
      if (path !== '/mcp') return void res.writeHead(404).end();
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token) {
        unauthorized.none++;
        res.writeHead(401, { 'www-authenticate': challenge, 'set-cookie': 'upstream=1' }).end();
        return;
      }
      const info = await introspect(token);
      if (info.active !== true || info.aud !== mcpUrl) {
        unauthorized.inactive++;
        res.writeHead(401, { 'www-authenticate': `${challenge}, error="invalid_token"` }).end();
        return;
      }
      accepted.push(token);
      const server = new McpServer({ name: 'upstream-standin', version: '1.0.0' });
      server.registerTool('whoami', { description: 'Who the upstream token is for.' }, () => ({
        content: [
          {
            type: 'text',
            text: JSON.stringify({
              sub: info.sub ?? null,
              client_id: info.client_id,
              // What else reached it from the gateway (never its own token, which it has).
              headers: Object.fromEntries(
                Object.entries(req.headers).filter(([h]) => h.startsWith('x-') || h === 'cookie' || h === 'host'),
              ),
            }),
          },
        ],
      }));
      server.registerTool(
        'echo',
        { description: 'Echoes its message.', inputSchema: { message: z.string() } },
        ({ message }) => ({ content: [{ type: 'text', text: message }] }),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res);
    })().catch((err: unknown) => {
      console.error('upstream stand-in MCP server:', err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  const live = (accountId: string) =>
    ['AccessToken', 'RefreshToken'].reduce(
      (n, name) => n + [...table(name).values()].filter((p) => p.accountId === accountId).length,
      0,
    );

  return {
    issuer,
    mcpUrl,
    accepted,
    unauthorized,
    requests,
    issued: () => [...everIssued],
    liveTokens: live,
    revokeUser(accountId) {
      for (const name of ['AccessToken', 'RefreshToken', 'Grant', 'AuthorizationCode']) {
        for (const [id, p] of table(name)) if (p.accountId === accountId) table(name).delete(id);
      }
    },
    async stop() {
      mcpServer.closeAllConnections();
      asServer.closeAllConnections();
      await Promise.all([
        new Promise((resolve) => mcpServer.close(resolve)),
        new Promise((resolve) => asServer.close(resolve)),
      ]);
    },
  };
}

/** A machine client pre-registered at the stand-in (client credentials tests): pass it in `clients`. */
export function machineClient(authMethod: 'client_secret_basic' | 'client_secret_post'): Record<string, unknown> {
  return {
    client_id: 'gateway-machine',
    client_secret: 'machine secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: authMethod,
  };
}

/** The gateway's settings for service `NAME` at `url`, with the machine client's token from `standin`. */
export function machineSettings(
  name: string,
  url: string,
  standin: UpstreamStandin,
  authMethod: 'client_secret_basic' | 'client_secret_post',
): Record<string, string> {
  return {
    [`MCP_${name}_ENABLED`]: 'true',
    [`MCP_${name}_URL`]: url,
    [`MCP_${name}_AUTH`]: 'client_credentials',
    [`MCP_${name}_CLIENT_ID`]: 'gateway-machine',
    [`MCP_${name}_CLIENT_SECRET`]: 'machine secret',
    [`MCP_${name}_TOKEN_AUTH_METHOD`]: authMethod,
    [`MCP_${name}_TOKEN_URL`]: `${standin.issuer}/token`,
    [`MCP_${name}_SCOPE`]: 'mcp:tools',
    [`MCP_${name}_TIMEOUT`]: '2',
  };
}
