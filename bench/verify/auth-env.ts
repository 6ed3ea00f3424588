/**
 * The auth service's settings in the /verify bench: as deployed (https PUBLIC_URL behind a proxy,
 * GitHub login, Redis), with a signing key the bench knows so that it can mint the tokens.
 * tests/unit/bench-settings.test.ts loads them with the gateway's own loader, so that a change of
 * the settings' rules cannot leave the bench unable to start unnoticed.
 */
export const PUBLIC_URL = 'https://mcp.example.com';
export const RESOURCE = `${PUBLIC_URL}/echo/mcp`;
export const ACCESS_TOKEN_LIFETIME = 3600;
export const KEY_PREFIX = 'bench:';

/** A GitHub user, as the provider puts one in tokens; the only login ALLOWED_GITHUB_USERS admits. */
export const USER = { sub: 'github:583231', idp: 'github', preferred_username: 'octocat', name: 'The Octocat' };

export function authEnv(options: { port: number; redisUrl: string; signingKeyPem: string }): Record<string, string> {
  return {
    PUBLIC_URL,
    TRUST_PROXY: 'true',
    HOST: '127.0.0.1',
    PORT: String(options.port),
    REDIS_URL: options.redisUrl,
    REDIS_KEY_PREFIX: KEY_PREFIX,
    SIGNING_KEY: options.signingKeyPem,
    ACCESS_TOKEN_LIFETIME: String(ACCESS_TOKEN_LIFETIME),
    MCP_ECHO_ENABLED: 'true',
    // Never called: the bench mints its tokens, nobody logs in.
    GITHUB_CLIENT_ID: 'bench-client',
    GITHUB_CLIENT_SECRET: 'bench-client-secret',
    ALLOWED_GITHUB_USERS: USER.preferred_username,
    LOG_LEVEL: 'warn',
  };
}
