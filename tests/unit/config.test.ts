import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig, type Config } from '../../auth/src/config/load.ts';
import { resolveLogFormat } from '../../auth/src/log.ts';

const GITHUB = { GITHUB_CLIENT_ID: 'Iv1.abc', GITHUB_CLIENT_SECRET: 'shh' };

/** The problems loadConfig reports for env; fails the test when it accepts env. */
function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The one problem reported for env, which must name `setting`. */
function problemOf(env: NodeJS.ProcessEnv, setting: string): string {
  const problems = problemsOf(env);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toContain(setting);
  return problems[0]!;
}

const publicUrlOf = (env: NodeJS.ProcessEnv): string => loadConfig(env).publicUrl;

describe('ALLOWED_ORIGINS', () => {
  test('origins are parsed and canonicalised', () => {
    const config = loadConfig({ ALLOWED_ORIGINS: 'https://App.example.com, http://localhost:6274/' });
    expect([...config.allowedOrigins]).toEqual(['https://app.example.com', 'http://localhost:6274']);
  });
  test('a URL with a path is not an origin', () => {
    expect(() => loadConfig({ ALLOWED_ORIGINS: 'https://app.example.com/x' })).toThrow(/ALLOWED_ORIGINS/);
  });
});

describe('defaults', () => {
  test('an empty environment is a working local setup', () => {
    const config = loadConfig({});
    expect(config).toEqual<Config>({
      publicUrl: 'http://localhost:8000',
      host: '127.0.0.1',
      port: 8000,
      trustProxy: false,
      redis: undefined,
      github: undefined,
      oidc: undefined,
      rules: {
        githubUsers: { everyone: false, logins: new Set() },
        githubOrgs: new Set(),
        githubTeams: new Set(),
        emails: new Set(),
        emailDomains: new Set(),
        groups: new Set(),
      },
      serviceRules: new Map(),
      membershipTtl: 300,
      accessTokenLifetime: 3600,
      refreshTokenLifetime: 2592000,
      refreshReuseGrace: 30,
      clientLifetime: 7776000,
      registrationLimit: 100,
      sessionLifetime: 86400,
      signingKeyPem: undefined,
      cookieSecrets: undefined,
      clientMetadata: { allowedHosts: '*', allowPrivateHosts: false },
      allowedOrigins: new Set(),
      services: [],
      edgeSecret: expect.any(String) as string,
      localUser: true,
      dangerous: [],
      upstreamTokenKey: undefined,
      logLevel: 'info',
      logFormat: resolveLogFormat('auto'), // json here: jest's output is not a terminal
    });
  });

  test('empty values mean the default', () => {
    const secret = 'x'.repeat(32);
    expect(
      loadConfig({ PUBLIC_URL: '', PORT: '', HOST: '', LOG_LEVEL: '', REDIS_URL: '', EDGE_SECRET: secret }),
    ).toEqual(loadConfig({ EDGE_SECRET: secret }));
  });

  test('PUBLIC_URL is derived from PORT', () => {
    expect(publicUrlOf({ PORT: '9000' })).toBe('http://localhost:9000');
  });

  test('PUBLIC_URL is derived from BASE_DOMAIN, and an explicit PUBLIC_URL wins', () => {
    expect(publicUrlOf({ BASE_DOMAIN: 'mcp.example.com', ...GITHUB })).toBe('https://mcp.example.com');
    expect(publicUrlOf({ BASE_DOMAIN: 'mcp.example.com', PUBLIC_URL: 'https://other.example.com', ...GITHUB })).toBe(
      'https://other.example.com',
    );
  });

  test('numbers, booleans and lifetimes are parsed', () => {
    const config = loadConfig({
      PORT: '0',
      TRUST_PROXY: 'yes',
      ACCESS_TOKEN_LIFETIME: '60',
      CLIENT_LIFETIME: '0',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({ port: 0, trustProxy: true, accessTokenLifetime: 60, clientLifetime: 0 });
    expect(config.logLevel).toBe('debug');
  });
});

describe('PUBLIC_URL', () => {
  test.each([
    ['HTTPS://MCP.Example.COM', 'https://mcp.example.com'],
    ['https://mcp.example.com/', 'https://mcp.example.com'],
    ['https://mcp.example.com:443/', 'https://mcp.example.com'],
    ['http://LOCALHOST:80/', 'http://localhost'],
    ['https://mcp.example.com:8443', 'https://mcp.example.com:8443'],
    ['  https://mcp.example.com  ', 'https://mcp.example.com'],
  ])('%s is canonicalised to %s', (given, canonical) => {
    expect(publicUrlOf({ PUBLIC_URL: given, ...GITHUB })).toBe(canonical);
  });

  test.each(['https://mcp.example.com/auth', 'https://mcp.example.com/?x=1', 'https://user:pw@mcp.example.com'])(
    '%s is not an origin and is refused',
    (given) => {
      expect(problemOf({ PUBLIC_URL: given, ...GITHUB }, 'PUBLIC_URL')).toContain('origin');
    },
  );

  test.each(['mcp.example.com', 'ftp://mcp.example.com'])('%s is not an http(s) URL', (given) => {
    problemOf({ PUBLIC_URL: given }, 'PUBLIC_URL');
  });

  test('http off loopback is refused unless DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL is on', () => {
    const env = { PUBLIC_URL: 'http://mcp.example.com', ...GITHUB };
    expect(problemOf(env, 'PUBLIC_URL')).toContain('DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL');
    expect(problemOf({ ...env, DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL: 'false' }, 'PUBLIC_URL')).toContain('https');

    const config = loadConfig({ ...env, DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL: 'true' });
    expect(config.publicUrl).toBe('http://mcp.example.com');
    expect(config.dangerous).toEqual(['DANGEROUSLY_ALLOW_INSECURE_PUBLIC_URL']);
  });

  test.each([
    'http://localhost:8000',
    'http://127.0.0.1:8000',
    'http://127.1.2.3',
    'http://[::1]:8000',
    'http://mcp.localhost',
  ])('http on loopback (%s) is allowed without a dangerous switch', (given) => {
    expect(loadConfig({ PUBLIC_URL: given }).dangerous).toEqual([]);
  });

  test('the other dangerous switch is listed too', () => {
    expect(loadConfig({ DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS: '1' })).toMatchObject({
      dangerous: ['DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS'],
      clientMetadata: { allowPrivateHosts: true },
    });
  });
});

describe('every problem at once', () => {
  test('each mistake is reported, naming its setting', () => {
    const env = {
      PORT: 'eighty',
      TRUST_PROXY: 'maybe',
      LOG_LEVEL: 'loud',
      ACCESS_TOKEN_LIFETIME: '10',
      REDIS_URL: 'http://redis:6379',
      GITHUB_CLIENT_ID: 'Iv1.abc',
      COOKIE_SECRETS: 'too-short',
      SIGNING_KEY: 'not a key',
      PUBLIC_URL: 'http://mcp.example.com',
      MCP_TOKEN_ENABLED: 'true',
      MCP_ECHO_ENABLED: 'sure',
    };
    const problems = problemsOf(env);
    const names = [
      'PORT',
      'TRUST_PROXY',
      'LOG_LEVEL',
      'ACCESS_TOKEN_LIFETIME',
      'REDIS_URL',
      'GITHUB_CLIENT_ID',
      'COOKIE_SECRETS',
      'SIGNING_KEY',
      'PUBLIC_URL',
      'MCP_TOKEN_ENABLED',
      'MCP_ECHO_ENABLED',
    ];
    for (const name of names) expect(problems.filter((p) => p.startsWith(name))).toHaveLength(1);
    // And one more: PUBLIC_URL faces a network, so no identity provider means nobody can log in.
    expect(problems.filter((p) => p.startsWith('No identity provider'))).toHaveLength(1);
    expect(problems).toHaveLength(names.length + 1);
  });

  test('the error message lists every problem', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'x', LOG_LEVEL: 'y' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^Invalid configuration:\n {2}- PORT.*\n {2}- LOG_LEVEL/s);
  });

  test('a secret value is not repeated in its problem', () => {
    const problem = problemOf({ REDIS_URL: 'http://:hunter2@redis:6379' }, 'REDIS_URL');
    expect(problem).not.toContain('hunter2');
  });
});

describe('identity', () => {
  test('GitHub needs both id and secret', () => {
    expect(problemOf({ GITHUB_CLIENT_ID: 'Iv1.abc' }, 'GITHUB_CLIENT_ID')).toContain('GITHUB_CLIENT_SECRET');
    expect(problemOf({ GITHUB_CLIENT_SECRET: 'shh' }, 'GITHUB_CLIENT_ID')).toContain('GITHUB_CLIENT_SECRET');
  });

  test('GitHub URLs default and lose trailing slashes', () => {
    expect(loadConfig(GITHUB).github).toEqual({
      clientId: 'Iv1.abc',
      clientSecret: 'shh',
      baseUrl: 'https://github.com',
      apiUrl: 'https://api.github.com',
    });
    const ghes = loadConfig({
      ...GITHUB,
      GITHUB_BASE_URL: 'https://ghe.example.com/',
      GITHUB_API_URL: 'https://ghe.example.com/api/v3/',
    });
    expect(ghes.github).toMatchObject({ baseUrl: 'https://ghe.example.com', apiUrl: 'https://ghe.example.com/api/v3' });
  });

  test('no identity provider on a non-loopback HOST is refused', () => {
    expect(problemOf({ HOST: '0.0.0.0' }, 'GITHUB_CLIENT_ID')).toContain('HOST=0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0', ...GITHUB }).localUser).toBe(false);
  });

  test('no identity provider behind a reverse proxy (loopback HOST, public PUBLIC_URL) is refused', () => {
    // A Caddy or nginx in front would bring the network to the local password login.
    const problem = problemOf({ PUBLIC_URL: 'https://mcp.example.com' }, 'GITHUB_CLIENT_ID');
    expect(problem).toContain('PUBLIC_URL=https://mcp.example.com is not loopback');
    expect(loadConfig({ PUBLIC_URL: 'https://mcp.example.com', ...GITHUB }).localUser).toBe(false);
    expect(loadConfig({ PUBLIC_URL: 'https://gateway.localhost:8443' }).localUser).toBe(true);
  });

  test('the local user exists on loopback without GitHub, and not with GitHub', () => {
    expect(loadConfig({}).localUser).toBe(true);
    expect(loadConfig({ HOST: 'localhost' }).localUser).toBe(true);
    expect(loadConfig({ HOST: '::1' }).localUser).toBe(true);
    expect(loadConfig(GITHUB).localUser).toBe(false);
  });

  test.each([
    [' Octocat , HUBOT,,octocat ', false, ['octocat', 'hubot']],
    ['*', true, []],
    ['alice, *', true, ['alice']],
    ['', false, []],
    [' , ', false, []],
  ])('ALLOWED_GITHUB_USERS=%j', (given, everyone, logins) => {
    expect(loadConfig({ ...GITHUB, ALLOWED_GITHUB_USERS: given }).rules.githubUsers).toEqual({
      everyone,
      logins: new Set(logins),
    });
  });
});

describe('services', () => {
  const base = { PUBLIC_URL: 'HTTPS://MCP.EXAMPLE.COM/', ...GITHUB };

  test('each enabled switch is a service, with exact resource and metadata URLs', () => {
    const config = loadConfig({
      ...base,
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      MCP_FETCH_ENABLED: 'yes',
      MCP_FETCH_SCOPES: ' mcp, fetch:read  fetch:read ',
      MCP_A1_ENABLED: '1',
      MCP_OFF_ENABLED: 'false',
      MCP_ZERO_ENABLED: '0',
      MCP_EMPTY_ENABLED: '',
      MCP_ORPHAN_SCOPES: 'x',
    });
    expect(config.services).toEqual([
      {
        name: 'a1',
        resource: 'https://mcp.example.com/a1/mcp',
        metadataUrl: 'https://mcp.example.com/.well-known/oauth-protected-resource/a1/mcp',
        scopes: ['mcp'],
        edgeSecret: expect.any(String),
      },
      {
        name: 'echo-stateful',
        resource: 'https://mcp.example.com/echo-stateful/mcp',
        metadataUrl: 'https://mcp.example.com/.well-known/oauth-protected-resource/echo-stateful/mcp',
        scopes: ['mcp'],
        edgeSecret: expect.any(String),
      },
      {
        name: 'fetch',
        resource: 'https://mcp.example.com/fetch/mcp',
        metadataUrl: 'https://mcp.example.com/.well-known/oauth-protected-resource/fetch/mcp',
        scopes: ['mcp', 'fetch:read'],
        edgeSecret: expect.any(String),
      },
    ]);
  });

  test('the resource follows the derived PUBLIC_URL', () => {
    expect(loadConfig({ PORT: '8123', MCP_ECHO_ENABLED: 'TRUE' }).services.map((s) => s.resource)).toEqual([
      'http://localhost:8123/echo/mcp',
    ]);
  });

  test.each(['MCP_9LIVES_ENABLED', 'MCP__ECHO_ENABLED', `MCP_${'A'.repeat(64)}_ENABLED`, 'MCP_ECHO.V2_ENABLED'])(
    '%s is not a valid service name and is reported',
    (name) => {
      expect(problemOf({ ...base, [name]: 'true' }, name)).toContain('not a valid service name');
    },
  );

  test.each(['TOKEN', 'AUTHORIZE', 'VERIFY', 'JWKS', 'HEALTH'])('MCP_%s_ENABLED collides with an auth path', (s) => {
    expect(problemOf({ ...base, [`MCP_${s}_ENABLED`]: 'true' }, `MCP_${s}_ENABLED`)).toContain('auth path');
  });

  test('a switch that is not a boolean is reported', () => {
    expect(problemOf({ ...base, MCP_ECHO_ENABLED: 'on' }, 'MCP_ECHO_ENABLED')).toContain('true or false');
  });

  test.each(['mcp openid', 'offline_access', 'a"b', 'a\\b'])('MCP_ECHO_SCOPES=%j is refused', (scopes) => {
    problemOf({ ...base, MCP_ECHO_ENABLED: 'true', MCP_ECHO_SCOPES: scopes }, 'MCP_ECHO_SCOPES');
  });
});

describe('secrets and storage', () => {
  const rsa = (bits: number) =>
    generateKeyPairSync('rsa', {
      modulusLength: bits,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
  const pem = rsa(2048);

  test('an RSA 2048 PKCS#8 PEM is accepted, also with escaped newlines', () => {
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(loadConfig({ SIGNING_KEY: pem }).signingKeyPem?.trim()).toBe(pem.trim());
    expect(loadConfig({ SIGNING_KEY: pem.replaceAll('\n', '\\n') }).signingKeyPem?.trim()).toBe(pem.trim());
  });

  test('an EC key, a short RSA key and garbage are refused', () => {
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'prime256v1',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
    expect(problemOf({ SIGNING_KEY: ec }, 'SIGNING_KEY')).toContain('RSA');
    expect(problemOf({ SIGNING_KEY: rsa(1024) }, 'SIGNING_KEY')).toContain('2048');
    expect(problemOf({ SIGNING_KEY: 'garbage' }, 'SIGNING_KEY')).toContain('not a PEM private key');
  });

  test('COOKIE_SECRETS are split, trimmed and at least 32 characters each', () => {
    const a = 'a'.repeat(32);
    const b = 'b'.repeat(48);
    expect(loadConfig({ COOKIE_SECRETS: ` ${a} , ${b},` }).cookieSecrets).toEqual([a, b]);
    expect(problemOf({ COOKIE_SECRETS: `${a},${'c'.repeat(31)}` }, 'COOKIE_SECRETS')).toContain('32');
  });

  test.each(['redis://:pw@redis:6379/0', 'rediss://redis.example.com:6380'])('REDIS_URL=%s is accepted', (url) => {
    expect(loadConfig({ REDIS_URL: url }).redis).toEqual({ url, keyPrefix: 'mcpgw:' });
    expect(loadConfig({ REDIS_URL: url, REDIS_KEY_PREFIX: 'gw2:' }).redis?.keyPrefix).toBe('gw2:');
  });

  test.each(['http://redis:6379', 'redis', 'unix:///tmp/redis.sock'])('REDIS_URL=%s is refused', (url) => {
    expect(problemOf({ REDIS_URL: url }, 'REDIS_URL')).toContain('redis://');
  });

  test('REDIS_KEY_PREFIX is restricted to safe characters', () => {
    problemOf({ REDIS_KEY_PREFIX: 'a b' }, 'REDIS_KEY_PREFIX');
  });
});

describe('your own MCP servers: MCP_<SERVICE>_COMMAND and MCP_<SERVICE>_URL', () => {
  const svc = (env: NodeJS.ProcessEnv) => loadConfig({ MCP_MINE_ENABLED: 'true', ...env }).services[0]!;
  test('a command as words', () =>
    expect(svc({ MCP_MINE_COMMAND: 'npx -y @modelcontextprotocol/server-memory' }).command).toEqual([
      'npx',
      '-y',
      '@modelcontextprotocol/server-memory',
    ]));
  test('a command as a JSON array keeps arguments with spaces', () =>
    expect(svc({ MCP_MINE_COMMAND: '["my server", "--dir", "/a b"]' }).command).toEqual([
      'my server',
      '--dir',
      '/a b',
    ]));
  test('a URL', () =>
    expect(svc({ MCP_MINE_URL: 'http://127.0.0.1:9000/mcp' }).upstreamUrl).toBe('http://127.0.0.1:9000/mcp'));
  test.each([
    [{ MCP_MINE_COMMAND: 'x', MCP_MINE_URL: 'http://127.0.0.1:1/mcp' }, 'set one of them'],
    [{ MCP_MINE_URL: 'ftp://x/mcp' }, 'must be an https:// URL'],
    [{ MCP_MINE_URL: 'http://tracker.example/mcp' }, 'http:// only to a loopback host'],
    [{ MCP_MINE_COMMAND: '["unterminated' }, 'JSON array'],
    [{ MCP_MINE_COMMAND: '[]' }, 'JSON array'],
  ])('%j is refused', (env, message) => {
    expect(() => svc(env)).toThrow(message);
  });
  test('neither: a catalogue service', () => {
    const s = svc({});
    expect(s.command).toBeUndefined();
    expect(s.upstreamUrl).toBeUndefined();
  });
});

describe('validated per area, reported at once', () => {
  test('problems in four areas are all reported in one run, in area order', () => {
    const problems = problemsOf({
      PUBLIC_URL: 'https://gw.example/path', // public address
      GITHUB_CLIENT_ID: 'only-the-id', // identity
      COOKIE_SECRETS: 'short', // security
      MCP_BAD_NAME_ENABLED: 'maybe', // services
      ACCESS_TOKEN_LIFETIME: 'soon', // tokens (the schema)
    });
    expect(problems.map((p) => p.split(/[:= ]/, 1)[0])).toEqual([
      'ACCESS_TOKEN_LIFETIME',
      'PUBLIC_URL',
      'GITHUB_CLIENT_ID',
      'No', // identity provider: half a GitHub app is none, and PUBLIC_URL is not loopback
      'COOKIE_SECRETS',
      'MCP_BAD_NAME_ENABLED',
    ]);
  });
});
