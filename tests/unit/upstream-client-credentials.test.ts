/**
 * The client credentials token source of an upstream (auth/src/upstream/client-credentials.ts),
 * against a real token endpoint on loopback: the three client authentications, the cache and its
 * early refresh, one request for many waiters, backoff on 5xx and none on 4xx, the scope check;
 * mutual TLS with throwaway certificates (openssl).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { freePort } from '../../auth/src/http/free-port.ts';
import { makeCertificates, makeClientCertificate } from '../support/certificates.ts';
import {
  ClientCredentialsSource,
  UpstreamTokenError,
  type ClientCredentialsOptions,
} from '../../auth/src/upstream/client-credentials.ts';

interface Seen {
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
}
type Answer = { status: number; body: unknown; delayMs?: number };

let server: Server;
let tokenUrl: string;
let seen: Seen[];
let answers: Answer[];
let issued: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, form: new URLSearchParams(text) });
      const answer = answers.shift() ?? {
        status: 200,
        body: { access_token: `at-${++issued}`, token_type: 'Bearer', expires_in: 3600 },
      };
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
  answers = [];
  issued = 0;
});

const source = (options: Partial<ClientCredentialsOptions> = {}) =>
  new ClientCredentialsSource({
    tokenUrl,
    clientId: 'svc client',
    auth: { method: 'client_secret_basic', secret: 's3cr:et' },
    sleep: async () => undefined,
    ...options,
  });

describe('client authentication', () => {
  test('client_secret_basic: id and secret form-encoded, then base64 (RFC 6749 §2.3.1)', async () => {
    expect(await source({ scope: 'read write', resource: 'https://up.example/mcp' }).token()).toBe('at-1');
    const [{ headers, form }] = seen as [Seen];
    expect(Buffer.from(headers.authorization!.replace(/^Basic /, ''), 'base64').toString()).toBe(
      'svc%20client:s3cr%3Aet',
    );
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      scope: 'read write',
      resource: 'https://up.example/mcp',
    });
  });

  test('client_secret_post: in the body, no Authorization header', async () => {
    await source({ auth: { method: 'client_secret_post', secret: 'pw' } }).token();
    expect(seen[0]!.headers.authorization).toBeUndefined();
    expect(seen[0]!.form.get('client_id')).toBe('svc client');
    expect(seen[0]!.form.get('client_secret')).toBe('pw');
  });

  test.each([
    ['rsa', 'RS256'],
    ['ec', 'ES256'],
  ] as const)('private_key_jwt with an %s key: an RFC 7523 assertion signed %s', async (type, alg) => {
    const { privateKey, publicKey } =
      type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await source({ auth: { method: 'private_key_jwt', key: privateKey, kid: 'k1' } }).token();
    const form = seen[0]!.form;
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(form.get('client_secret')).toBeNull();
    const decoded = jwt.verify(form.get('client_assertion')!, publicKey, { complete: true, audience: tokenUrl });
    expect(decoded.header).toMatchObject({ alg, kid: 'k1' });
    expect(decoded.payload).toMatchObject({ iss: 'svc client', sub: 'svc client', jti: expect.any(String) });
    const { exp, iat } = decoded.payload as { exp: number; iat: number };
    expect(exp - iat).toBe(60);
  });

  test('a public client (none) cannot have a machine token: refused when configured', () => {
    expect(() => source({ auth: { method: 'none' } })).toThrow(/public client/);
  });

  test('private_key_jwt with an Ed25519 key: refused when configured', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => source({ auth: { method: 'private_key_jwt', key: privateKey } })).toThrow(/RSA or P-256/);
  });
});

describe('the cached token', () => {
  test('served from the cache until due for refresh', async () => {
    const s = source();
    expect([await s.token(), await s.token(), await s.token()]).toEqual(['at-1', 'at-1', 'at-1']);
    expect(seen).toHaveLength(1);
    expect(s.stats).toMatchObject({ acquisitions: 1, cacheHits: 2, refreshes: 0 });
  });

  test('refreshed 5 minutes before expiry, the valid token served meanwhile', async () => {
    let now = 1_000_000;
    const s = source({ now: () => now });
    await s.token();
    now += (3600 - 300 - 1) * 1000;
    expect(await s.token()).toBe('at-1');
    expect(seen).toHaveLength(1);
    now += 2000; // inside the last 5 minutes
    expect(await s.token()).toBe('at-1'); // still valid: served while the refresh runs
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(2);
    expect(await s.token()).toBe('at-2');
    expect(s.stats.refreshes).toBe(1);
  });

  test('a short lifetime is refreshed at 90 % of it', async () => {
    let now = 0;
    answers = [{ status: 200, body: { access_token: 'short', token_type: 'bearer', expires_in: 60 } }];
    const s = source({ now: () => now });
    await s.token();
    now = 53_000;
    await s.token();
    expect(seen).toHaveLength(1);
    now = 55_000;
    await s.token();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(2);
  });

  test('expired: the caller waits for a new one', async () => {
    let now = 0;
    const s = source({ now: () => now });
    await s.token();
    now = 3601_000;
    expect(await s.token()).toBe('at-2');
  });

  test('invalidate (the upstream said 401): the next call asks again', async () => {
    const s = source();
    const first = await s.token();
    s.invalidate('not-this-one');
    expect(await s.token()).toBe(first);
    s.invalidate(first);
    expect(await s.token()).toBe('at-2');
  });

  test('50 concurrent callers: one token request', async () => {
    answers = [{ status: 200, body: { access_token: 'shared', token_type: 'Bearer', expires_in: 3600 }, delayMs: 100 }];
    const s = source();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => s.token()));
    expect(new Set(tokens)).toEqual(new Set(['shared']));
    expect(seen).toHaveLength(1);
  });
});

describe('failures', () => {
  test('503 twice, then a token: retried with growing, capped, jittered waits', async () => {
    answers = [
      { status: 503, body: {} },
      { status: 503, body: {} },
    ];
    const waits: number[] = [];
    const s = source({ sleep: async (ms) => void waits.push(ms), backoff: { baseMs: 100, capMs: 300 } });
    expect(await s.token()).toBe('at-1');
    expect(seen).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeLessThanOrEqual(200);
    expect(waits[1]).toBeLessThanOrEqual(300);
  });

  test('400 invalid_client: no retry, refused with the upstream error code', async () => {
    answers = [{ status: 400, body: { error: 'invalid_client' } }];
    const s = source();
    const err = (await s.token().catch((e: unknown) => e)) as UpstreamTokenError;
    expect(err).toBeInstanceOf(UpstreamTokenError);
    expect(err).toMatchObject({ reason: 'refused', oauthError: 'invalid_client', status: 400 });
    expect(seen).toHaveLength(1);
    expect(s.stats.failures).toEqual({ refused: 1 });
    expect(err.message).not.toContain('s3cr');
  });

  test('5xx every time: unavailable after the attempts', async () => {
    answers = Array.from({ length: 3 }, () => ({ status: 502, body: 'bad gateway' }));
    const err = await source({ attempts: 3 })
      .token()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'unavailable', status: 502 });
    expect(seen).toHaveLength(3);
  });

  test('nothing listening: unavailable after the attempts', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/token`;
    await expect(source({ tokenUrl: closed, attempts: 2 }).token()).rejects.toMatchObject({ reason: 'unavailable' });
  });

  test('less scope than asked: refused as scope', async () => {
    answers = [{ status: 200, body: { access_token: 'narrow', token_type: 'Bearer', scope: 'read' } }];
    await expect(source({ scope: 'read write' }).token()).rejects.toMatchObject({ reason: 'scope' });
  });

  test.each([
    ['not a Bearer token', { access_token: 'x', token_type: 'mac' }],
    ['no access_token', { token_type: 'Bearer' }],
    ['not JSON', 'not json'],
  ])('%s: malformed', async (_name, body) => {
    answers = [{ status: 200, body }];
    await expect(source().token()).rejects.toMatchObject({ reason: 'malformed' });
  });
});

describe('tls_client_auth (RFC 8705 §2): a client certificate on a real TLS connection', () => {
  let dir: string;
  let tls: HttpsServer;
  let tlsUrl: string;
  const subjects: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-'));
    makeCertificates(dir);
    makeClientCertificate(dir, 'client', 'svc client');
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    // The token endpoint asks for a certificate and accepts only those its CA signed.
    tls = createHttpsServer(
      {
        cert: read('server.pem'),
        key: read('server.key'),
        ca: read('ca.pem'),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        let text = '';
        req.on('data', (d: Buffer) => (text += d.toString()));
        req.on('end', () => {
          const peer = (req.socket as TLSSocket).getPeerCertificate();
          subjects.push(String(peer.subject?.CN));
          const form = new URLSearchParams(text);
          const ok = peer.subject?.CN === form.get('client_id') && form.get('client_secret') === null;
          res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify(
              ok ? { access_token: 'mtls-token', token_type: 'Bearer', expires_in: 600 } : { error: 'invalid_client' },
            ),
          );
        });
      },
    );
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    tlsUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}/token`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => tls.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  const read = (f: string) => readFileSync(join(dir, f), 'utf8');

  test('the certificate authenticates the client, named by client_id', async () => {
    const s = source({
      tokenUrl: tlsUrl,
      auth: { method: 'tls_client_auth', cert: read('client.pem'), key: read('client.key'), ca: read('ca.pem') },
    });
    expect(await s.token()).toBe('mtls-token');
    expect(subjects).toEqual(['svc client']);
  });

  test('without the CA that signed the server, the connection is refused: unavailable, never sent in clear', async () => {
    const s = source({
      tokenUrl: tlsUrl,
      attempts: 1,
      auth: { method: 'tls_client_auth', cert: read('client.pem'), key: read('client.key') },
    });
    await expect(s.token()).rejects.toMatchObject({ reason: 'unavailable' });
  });

  test('an http token endpoint is refused when configured', () => {
    expect(() =>
      source({ auth: { method: 'tls_client_auth', cert: read('client.pem'), key: read('client.key') } }),
    ).toThrow(/must be https/);
  });
});
