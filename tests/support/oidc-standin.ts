/**
 * A stand-in OpenID Connect provider made of real parts: oidc-provider itself on a free loopback
 * port, with its own users (claims `email`, `email_verified`, `preferred_username`, `name`,
 * `groups`), discovery, a JWKS, key rotation, PKCE, UserInfo, and a login page with one button per
 * user (headless Chromium clicks it; `Person` too).
 *
 * It can also forge what a hostile or broken provider would send: `tamper(mode)` rewrites the
 * next ID token its token endpoint returns (another issuer, another audience, expired, another
 * nonce, a replay of an earlier one, `alg: none`, signed by a stranger's key, an unknown `kid`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { type AdapterPayload } from 'oidc-provider';
import { memoryAdapter, quietOidcProviderNotes } from './memory-adapter.ts';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';

export interface OidcUser {
  sub: string;
  preferred_username?: string;
  name?: string;
  email?: string;
  email_verified?: boolean;
  groups?: string[];
}

export type Tamper =
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'other-azp'
  | 'expired'
  | 'wrong-nonce'
  | 'replay'
  | 'alg-none'
  | 'stranger-key'
  | 'unknown-kid';

export interface OidcStandin {
  issuer: string;
  clientId: string;
  clientSecret: string;
  users: Map<string, OidcUser>;
  /** The gateway's callback (`$PUBLIC_URL/callback/oidc`): the client's one redirect URI. */
  setRedirectUri(uri: string): void;
  /** The next ID token the token endpoint returns is forged this way. */
  tamper(mode: Tamper): void;
  /** A new signing key becomes the only one (the old one is no longer published). */
  rotateKeys(): void;
  /** The `kid` ID tokens are signed with now. */
  readonly kid: string;
  /** `METHOD /path` of every request. */
  requests: string[];
  /** Discovery answers 503 while true. */
  down: boolean;
  stop(): Promise<void>;
}

function newKey(): { private: JWK; kid: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(6).toString('hex');
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  return { private: { ...jwk, kid, alg: 'RS256', use: 'sig' }, kid };
}

const escape = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

export async function startOidcStandin(options: { users: OidcUser[] }): Promise<OidcStandin> {
  const clientId = `gateway-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const users = new Map(options.users.map((u) => [u.sub, u]));
  let redirectUri = 'http://127.0.0.1:1/callback/oidc';
  let tampering: Tamper | undefined;
  let lastIdToken: string | undefined;
  const requests: string[] = [];

  const MemoryAdapter = memoryAdapter(new Map(), {
    // The gateway's client: its redirect URI is known once the gateway listens (setRedirectUri).
    find: (model, id) =>
      model === 'Client' && id === clientId
        ? ({
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: [redirectUri],
            token_endpoint_auth_method: 'client_secret_basic',
          } as AdapterPayload)
        : undefined,
  });

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const cookieKeys = [randomBytes(32).toString('base64url')];
  let key = newKey();

  function makeProvider(): Provider {
    const restoreConsole = quietOidcProviderNotes();
    const provider = new Provider(issuer, {
      adapter: MemoryAdapter,
      jwks: { keys: [key.private] },
      cookies: { keys: cookieKeys },
      findAccount: (_ctx, sub) => {
        const user = users.get(sub);
        if (!user) return undefined;
        return { accountId: sub, claims: () => ({ ...user }) };
      },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name', 'preferred_username'],
        groups: ['groups'],
      },
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      pkce: { required: () => true },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // Every scope asked is granted: the consent is not what these tests are about.
      async loadExistingGrant(ctx) {
        const grant = new ctx.oidc.provider.Grant({
          clientId: ctx.oidc.client!.clientId,
          accountId: ctx.oidc.session!.accountId!,
        });
        grant.addOIDCScope(String(ctx.oidc.params!.scope ?? 'openid'));
        await grant.save();
        return grant;
      },
    });
    restoreConsole();
    return provider;
  }
  let provider = makeProvider();

  const stranger = newKey();

  async function forge(idToken: string, mode: Tamper): Promise<string> {
    if (mode === 'replay') return lastIdToken ?? idToken;
    const claims = decodeJwt(idToken);
    const now = Math.floor(Date.now() / 1000);
    const header = decodeProtectedHeader(idToken);
    const payload = { ...claims };
    let signer = key.private;
    let kid = String(header.kid);
    if (mode === 'wrong-issuer') payload.iss = 'https://evil.example';
    if (mode === 'wrong-audience') payload.aud = 'another-client';
    if (mode === 'other-azp') {
      payload.aud = [clientId, 'another-client'];
      payload.azp = 'another-client';
    }
    if (mode === 'expired') {
      payload.iat = now - 7200;
      payload.exp = now - 3600;
    }
    if (mode === 'wrong-nonce') payload.nonce = 'not-the-nonce';
    if (mode === 'alg-none') {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
    }
    if (mode === 'stranger-key') signer = stranger.private;
    if (mode === 'unknown-kid') {
      signer = stranger.private;
      kid = 'no-such-kid';
    }
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(await importJWK(signer, 'RS256'));
  }

  function loginPage(uid: string): string {
    const buttons = [...users.values()]
      .map(
        (u) =>
          `<form method="post" action="/interaction/${uid}/login"><input type="hidden" name="sub" value="${escape(u.sub)}"><button type="submit">Sign in as ${escape(u.preferred_username ?? u.sub)}</button></form>`,
      )
      .join('\n');
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stand-in IdP</title></head><body><main><h1>Stand-in IdP sign-in</h1>${buttons}</main></body></html>`;
  }

  async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', issuer);
    requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/.well-known/openid-configuration' && standin.down) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
      return;
    }
    const interaction = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
    if (interaction) {
      const uid = interaction[1]!;
      if (req.method === 'GET' && !interaction[2]) {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(uid));
          return;
        }
        // Consent: granted by loadExistingGrant; nothing to ask.
        await provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
        return;
      }
      if (req.method === 'POST' && interaction[2]) {
        const form = await readForm(req);
        const sub = form.get('sub') ?? '';
        if (!users.has(sub)) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('no such user');
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
        return;
      }
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      // Capture the provider's answer to remember (and, when asked, forge) its ID token.
      const end = res.end.bind(res);
      const mode = tampering;
      tampering = undefined;
      (res as unknown as { end: (chunk?: unknown) => unknown }).end = (chunk?: unknown) => {
        void (async () => {
          const text = chunk === undefined ? '' : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
          let body: Record<string, unknown>;
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            return end(chunk as string);
          }
          if (typeof body.id_token === 'string') {
            const genuine = body.id_token;
            if (mode) body.id_token = await forge(genuine, mode);
            lastIdToken = genuine;
          }
          const out = JSON.stringify(body);
          res.setHeader('content-length', Buffer.byteLength(out));
          end(out);
        })();
        return res;
      };
    }
    provider.callback()(req, res);
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      else res.destroy();
    });
  });

  const standin: OidcStandin = {
    issuer,
    clientId,
    clientSecret,
    users,
    requests,
    down: false,
    get kid() {
      return key.kid;
    },
    setRedirectUri(uri) {
      redirectUri = uri;
    },
    tamper(mode) {
      tampering = mode;
    },
    rotateKeys() {
      key = newKey();
      provider = makeProvider();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return standin;
}
