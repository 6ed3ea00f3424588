/**
 * The gateway's settings in bench/upstream: two services at the same upstream server, `plain`
 * (no authorization of its own) and `held` (MCP_HELD_AUTH=user, explicit endpoints, a registered
 * client: nothing is discovered or registered during the run). tests/unit/bench-settings.test.ts
 * loads them with the gateway's own loader, so that a settings rule cannot stop the bench unnoticed.
 */
export const PREFIX = 'bench-upstream:';

/** The bench's user, as the provider puts one in tokens; the only login ALLOWED_GITHUB_USERS admits. */
export const USER = { sub: 'github:583231', idp: 'github', preferred_username: 'octocat', name: 'The Octocat' };

export function gatewayEnv(o: {
  port: number;
  redisUrl: string;
  signingKeyPem: string;
  /** UPSTREAM_TOKEN_KEY. */
  sealing: string;
  upstreamUrl: string;
}): Record<string, string> {
  return {
    PUBLIC_URL: `http://127.0.0.1:${o.port}`,
    HOST: '127.0.0.1',
    PORT: String(o.port),
    REDIS_URL: o.redisUrl,
    REDIS_KEY_PREFIX: PREFIX,
    SIGNING_KEY: o.signingKeyPem,
    UPSTREAM_TOKEN_KEY: o.sealing,
    // Never called: the bench mints its tokens, nobody logs in.
    GITHUB_CLIENT_ID: 'bench-client',
    GITHUB_CLIENT_SECRET: 'bench-client-secret',
    ALLOWED_GITHUB_USERS: USER.preferred_username,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    MCP_PLAIN_ENABLED: 'true',
    MCP_PLAIN_URL: `${o.upstreamUrl}/mcp`,
    MCP_HELD_ENABLED: 'true',
    MCP_HELD_URL: `${o.upstreamUrl}/mcp`,
    MCP_HELD_AUTH: 'user',
    MCP_HELD_CLIENT_ID: 'bench-upstream-client',
    MCP_HELD_CLIENT_SECRET: 'bench-upstream-secret',
    // Never called while the held token is valid: no discovery, no refresh during the run.
    MCP_HELD_AUTHORIZATION_URL: `${o.upstreamUrl}/authorize`,
    MCP_HELD_TOKEN_URL: `${o.upstreamUrl}/token`,
  };
}
