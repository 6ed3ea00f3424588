/**
 * The settings of remote MCP servers (config/upstream.ts): MCP_<S>_URL with MCP_<S>_AUTH, the
 * client's credentials, endpoints, timeout and identity headers; every misconfiguration refused at
 * startup, all at once, naming the setting.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../auth/src/config/load.ts';
import { makeCertificates, makeClientCertificate } from '../support/certificates.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'config-upstream-'));
  const pem = (k: { export(o: object): string | Buffer }) => String(k.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'rsa.key'), pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
  writeFileSync(join(dir, 'ec.key'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
  writeFileSync(join(dir, 'ed.key'), pem(generateKeyPairSync('ed25519').privateKey));
  writeFileSync(join(dir, 'garbage.key'), 'not a key\n');
  makeCertificates(dir);
  makeClientCertificate(dir, 'client', 'gateway');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REMOTE = { MCP_GH_ENABLED: 'true', MCP_GH_URL: 'https://api.example.com/mcp/' };
const remoteOf = (env: NodeJS.ProcessEnv) => loadConfig({ ...REMOTE, ...env }).services[0]!.remote!;
function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig({ ...REMOTE, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the configuration to be refused');
}

describe('a remote MCP server', () => {
  test('without AUTH: reached as it is, identity headers on (your own server)', () => {
    expect(remoteOf({})).toEqual({
      url: 'https://api.example.com/mcp/',
      timeoutMs: 60_000,
      identityHeaders: true,
    });
  });

  test('AUTH=user by discovery needs nothing more; identity headers off by default', () => {
    expect(remoteOf({ MCP_GH_AUTH: 'user' })).toEqual({
      url: 'https://api.example.com/mcp/',
      timeoutMs: 60_000,
      identityHeaders: false,
      auth: { mode: 'user' },
    });
  });

  test('the GitHub recipe: explicit endpoints, an OAuth app, a scope', () => {
    const remote = remoteOf({
      MCP_GH_AUTH: 'user',
      MCP_GH_CLIENT_ID: 'Iv1.abc',
      MCP_GH_CLIENT_SECRET: 'secret-value',
      MCP_GH_AUTHORIZATION_URL: 'https://github.com/login/oauth/authorize',
      MCP_GH_TOKEN_URL: 'https://github.com/login/oauth/access_token',
      MCP_GH_SCOPE: 'repo read:org',
      MCP_GH_TIMEOUT: '20',
      MCP_GH_IDENTITY_HEADERS: 'true',
    });
    expect(remote).toEqual({
      url: 'https://api.example.com/mcp/',
      timeoutMs: 20_000,
      identityHeaders: true,
      auth: {
        mode: 'user',
        client: { clientId: 'Iv1.abc', auth: { method: 'client_secret_basic', secret: 'secret-value' } },
        scope: 'repo read:org',
        endpoints: {
          authorization: 'https://github.com/login/oauth/authorize',
          token: 'https://github.com/login/oauth/access_token',
        },
      },
    });
  });

  test.each([
    ['rsa.key', 'rsa'],
    ['ec.key', 'ec'],
  ])('client_credentials with private_key_jwt (%s)', (file, type) => {
    const remote = remoteOf({
      MCP_GH_AUTH: 'client_credentials',
      MCP_GH_CLIENT_ID: 'machine',
      MCP_GH_CLIENT_KEY: join(dir, file),
      MCP_GH_TOKEN_URL: 'https://as.example.com/token',
    });
    const auth = remote.auth!.client!.auth;
    expect(auth.method).toBe('private_key_jwt');
    expect(auth.method === 'private_key_jwt' && auth.key.asymmetricKeyType).toBe(type);
    expect(remote.auth!.endpoints).toEqual({ token: 'https://as.example.com/token' });
  });

  test('client_credentials with mutual TLS and a private CA', () => {
    const remote = remoteOf({
      MCP_GH_AUTH: 'client_credentials',
      MCP_GH_CLIENT_ID: 'machine',
      MCP_GH_CLIENT_CERT: join(dir, 'client.pem'),
      MCP_GH_CLIENT_CERT_KEY: join(dir, 'client.key'),
      MCP_GH_CA: join(dir, 'ca.pem'),
    });
    const auth = remote.auth!.client!.auth;
    expect(auth.method).toBe('tls_client_auth');
    expect(auth.method === 'tls_client_auth' && auth.cert).toContain('BEGIN CERTIFICATE');
    expect(remote.ca).toContain('BEGIN CERTIFICATE');
  });

  test('client_secret_post when asked for', () => {
    const auth = remoteOf({
      MCP_GH_AUTH: 'client_credentials',
      MCP_GH_CLIENT_ID: 'machine',
      MCP_GH_CLIENT_SECRET: 's',
      MCP_GH_TOKEN_AUTH_METHOD: 'client_secret_post',
    }).auth!.client!.auth;
    expect(auth).toEqual({ method: 'client_secret_post', secret: 's' });
  });

  test('http to loopback is allowed (development and tests)', () => {
    expect(remoteOf({ MCP_GH_URL: 'http://127.0.0.1:9000/mcp' }).url).toBe('http://127.0.0.1:9000/mcp');
  });
});

describe('misconfiguration stops the gateway, every problem at once', () => {
  test.each<[string, NodeJS.ProcessEnv, string]>([
    ['http to a non-loopback host', { MCP_GH_URL: 'http://api.example.com/mcp' }, 'MCP_GH_URL'],
    [
      'an unknown AUTH',
      { MCP_GH_AUTH: 'password' },
      'MCP_GH_AUTH="password": must be one of none, user, client_credentials',
    ],
    ['a timeout that is not seconds', { MCP_GH_TIMEOUT: '5m' }, 'MCP_GH_TIMEOUT'],
    ['credentials without AUTH', { MCP_GH_CLIENT_ID: 'x' }, 'only used with MCP_GH_AUTH'],
    ['client_credentials without credentials', { MCP_GH_AUTH: 'client_credentials' }, 'needs MCP_GH_CLIENT_ID'],
    [
      'client_credentials with a public client',
      { MCP_GH_AUTH: 'client_credentials', MCP_GH_CLIENT_ID: 'x' },
      "a machine token needs the client's credentials",
    ],
    [
      'a key file that does not parse',
      { MCP_GH_AUTH: 'client_credentials', MCP_GH_CLIENT_ID: 'x', MCP_GH_CLIENT_KEY: '<dir>/garbage.key' },
      'not a PEM private key',
    ],
    [
      'a key of a kind JWT cannot use',
      { MCP_GH_AUTH: 'client_credentials', MCP_GH_CLIENT_ID: 'x', MCP_GH_CLIENT_KEY: '<dir>/ed.key' },
      'not ed25519',
    ],
    [
      'a key file that is missing',
      { MCP_GH_AUTH: 'client_credentials', MCP_GH_CLIENT_ID: 'x', MCP_GH_CLIENT_KEY: '<dir>/missing.key' },
      'cannot be read (ENOENT)',
    ],
    [
      'a certificate without its key',
      { MCP_GH_AUTH: 'client_credentials', MCP_GH_CLIENT_ID: 'x', MCP_GH_CLIENT_CERT: '<dir>/client.pem' },
      'set both or neither',
    ],
    [
      'a secret and a key without choosing',
      {
        MCP_GH_AUTH: 'client_credentials',
        MCP_GH_CLIENT_ID: 'x',
        MCP_GH_CLIENT_SECRET: 's',
        MCP_GH_CLIENT_KEY: '<dir>/rsa.key',
      },
      'choose with MCP_GH_TOKEN_AUTH_METHOD',
    ],
    [
      'AUTH=user with one endpoint',
      { MCP_GH_AUTH: 'user', MCP_GH_TOKEN_URL: 'https://github.com/login/oauth/access_token' },
      'set both',
    ],
    [
      'AUTH=user without metadata and without any way to register',
      {
        MCP_GH_AUTH: 'user',
        MCP_GH_AUTHORIZATION_URL: 'https://github.com/login/oauth/authorize',
        MCP_GH_TOKEN_URL: 'https://github.com/login/oauth/access_token',
      },
      'cannot register itself',
    ],
    ['a secret without a client id', { MCP_GH_AUTH: 'user', MCP_GH_CLIENT_SECRET: 's' }, 'MCP_GH_CLIENT_ID: needed'],
    [
      'an http token endpoint off loopback',
      {
        MCP_GH_AUTH: 'client_credentials',
        MCP_GH_CLIENT_ID: 'x',
        MCP_GH_CLIENT_SECRET: 's',
        MCP_GH_TOKEN_URL: 'http://as.example/token',
      },
      'MCP_GH_TOKEN_URL',
    ],
  ])('%s', (_name, env, message) => {
    const withDir = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v?.replace('<dir>', dir)]));
    expect(problemsOf(withDir).join('\n')).toContain(message);
  });

  test('AUTH on a service that is not remote', () => {
    const problems = (() => {
      try {
        loadConfig({ MCP_ECHO_STATEFUL_ENABLED: 'true', MCP_ECHO_STATEFUL_AUTH: 'user' });
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    })();
    expect(problems).toEqual([expect.stringContaining('set MCP_ECHO_STATEFUL_URL too')]);
  });

  test('several problems of several services are all reported', () => {
    const problems = (() => {
      try {
        loadConfig({
          MCP_A_ENABLED: 'true',
          MCP_A_URL: 'http://a.example/mcp',
          MCP_A_AUTH: 'magic',
          MCP_B_ENABLED: 'true',
          MCP_B_URL: 'https://b.example/mcp',
          MCP_B_AUTH: 'client_credentials',
        });
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    })();
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/MCP_A_URL[\s\S]*MCP_A_AUTH[\s\S]*MCP_B_AUTH/);
  });

  test('a secret is never repeated in a problem', () => {
    const problems = problemsOf({ MCP_GH_CLIENT_SECRET: 'very-secret-value' });
    expect(problems.join('\n')).not.toContain('very-secret-value');
  });
});
