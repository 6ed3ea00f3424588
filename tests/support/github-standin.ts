/**
 * A local stand-in for GitHub: a real HTTP server speaking the OAuth web application flow and the
 * bits of the REST API the gateway reads, shaped like GitHub Enterprise Server (`/api/v3`).
 * https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 *
 * Its authorize page is a real page with real forms, so headless Chromium can click through it;
 * `approve()` is the same click for protocol tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinUser {
  id: number;
  login: string;
  name?: string | null;
  /** The public profile email; null when private. */
  email?: string | null;
  /** What GET /user/emails answers; derived from `email` when absent. */
  emails?: { email: string; primary: boolean; verified: boolean }[];
}

export interface GitHubStandin {
  baseUrl: string;
  /** `${baseUrl}/api/v3`, like GitHub Enterprise Server. */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  users: StandinUser[];
  addUser(user: StandinUser): void;
  /** `METHOD /path` of every request, query left out (it carries codes and states). */
  requests: string[];
  /**
   * The next request to the token endpoint, GET /user, or a membership endpoint (/user/orgs,
   * /user/teams, /orgs/{org}/members/{user}) answers `status` instead; 403 as GitHub's rate limit.
   */
  failNext(what: 'token' | 'user' | 'memberships', status: number): void;
  /** Organisations: members (logins) and teams (slug → member logins). */
  orgs: Map<string, { members: Set<string>; teams: Map<string, Set<string>> }>;
  /** Makes `login` a member of `org` (and of its `teams`). */
  join(org: string, login: string, teams?: string[]): void;
  /** Removes `login` from `org` and all its teams. */
  leave(org: string, login: string): void;
  /** The scope each access token issued so far was granted, in order (GitHub's comma form). */
  grantedScopes: string[];
  /** "The person clicks Authorize as <login>" on the page at `authorizeUrl`; returns the redirect Location. */
  approve(authorizeUrl: string, login: string): Promise<string>;
  stop(): Promise<void>;
}

export interface StandinOptions {
  clientId?: string;
  clientSecret?: string;
  users?: StandinUser[];
  /** The OAuth app's name on the authorize page. */
  appName?: string;
  /** How long a code stays valid; GitHub: 10 minutes. */
  codeLifetimeMs?: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  userId: number;
  scope: string;
  challenge?: string;
  expiresAt: number;
}

const DOCS = 'https://docs.github.com/rest';
const OAUTH_ERRORS_DOCS =
  'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors';

const escape = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
const unescape = (s: string) =>
  s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title></head>
<body>
<main>
<h1>${escape(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

function sendHtml(res: ServerResponse, status: number, html: string) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

const notFound = (res: ServerResponse) =>
  sendJson(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1_000_000) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, String(v)]));
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function isHttpUrl(value: string | undefined): value is string {
  if (!value) return false;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export async function startGitHubStandin(options: StandinOptions = {}): Promise<GitHubStandin> {
  const clientId = options.clientId ?? `Iv1.${randomBytes(8).toString('hex')}`;
  const clientSecret = options.clientSecret ?? randomBytes(20).toString('hex');
  const appName = options.appName ?? 'MCP OAuth Gateway';
  const codeLifetimeMs = options.codeLifetimeMs ?? 10 * 60_000;
  const users: StandinUser[] = options.users ?? [
    { id: 1001, login: 'octocat', name: 'The Octocat', email: 'octocat@example.com' },
  ];
  const codes = new Map<string, IssuedCode>();
  const tokens = new Map<string, { userId: number; scope: string }>();
  const failures = new Map<'token' | 'user' | 'memberships', number>();
  const orgs = new Map<string, { members: Set<string>; teams: Map<string, Set<string>> }>();
  const grantedScopes: string[] = [];
  const requests: string[] = [];

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { message: `stand-in error: ${String(err)}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiUrl = `${baseUrl}/api/v3`;

  const findUser = (login: string) => users.find((u) => u.login.toLowerCase() === login.toLowerCase());

  /** The checks GitHub makes before showing or accepting the authorize page; an error page or undefined. */
  function checkAuthorizeRequest(params: Record<string, string>): { status: number; html: string } | undefined {
    if (params.client_id !== clientId) {
      return { status: 404, html: page('Page not found', '<p>No OAuth application has this client_id.</p>') };
    }
    if (!isHttpUrl(params.redirect_uri)) {
      return { status: 400, html: page('Redirect URI required', '<p>redirect_uri must be an http(s) URL.</p>') };
    }
    // GitHub accepts only the S256 method (changelog 2025-07-14, "PKCE support for OAuth and GitHub App authentication").
    if (params.code_challenge !== undefined && params.code_challenge_method !== 'S256') {
      return { status: 400, html: page('Unsupported PKCE method', '<p>code_challenge_method must be S256.</p>') };
    }
    return undefined;
  }

  function redirectBack(res: ServerResponse, redirectUri: string, params: Record<string, string>) {
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    res.writeHead(302, { location: target.href });
    res.end();
  }

  function authorizePage(params: Record<string, string>): string {
    const hidden = Object.entries(params)
      .filter(([k]) => k !== 'login' && k !== 'authorize')
      .map(([k, v]) => `<input type="hidden" name="${escape(k)}" value="${escape(v)}">`)
      .join('\n  ');
    const form = (extra: string, button: string) =>
      `<form method="post" action="/login/oauth/authorize">\n  ${hidden}\n  ${extra}\n  ${button}\n</form>`;
    const accounts = users.length
      ? users
          .map((u) =>
            form(
              `<input type="hidden" name="login" value="${escape(u.login)}">`,
              `<button type="submit" name="authorize" value="1">Authorize as ${escape(u.login)}</button>`,
            ),
          )
          .join('\n')
      : '<p>No accounts exist on this stand-in.</p>';
    const scope = params.scope ? `<p>Requested scopes: <code>${escape(params.scope)}</code></p>` : '';
    return page(
      `Authorize ${appName}`,
      `<p>${escape(appName)} wants to access your GitHub account.</p>
${scope}
<section aria-label="Accounts">
${accounts}
</section>
${form('', '<button type="submit" name="authorize" value="0">Cancel</button>')}`,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', baseUrl);
    const route = `${req.method} ${url.pathname}`;
    requests.push(route);

    if (route === 'GET /login/oauth/authorize') {
      const params = Object.fromEntries(url.searchParams);
      const problem = checkAuthorizeRequest(params);
      if (problem) return sendHtml(res, problem.status, problem.html);
      return sendHtml(res, 200, authorizePage(params));
    }

    if (route === 'POST /login/oauth/authorize') {
      // Hidden fields can be forged: everything is checked again.
      const params = await readBody(req);
      const problem = checkAuthorizeRequest(params);
      if (problem) return sendHtml(res, problem.status, problem.html);
      const redirectUri = params.redirect_uri!;
      const state: Record<string, string> = params.state !== undefined ? { state: params.state } : {};
      if (params.authorize !== '1') {
        // What GitHub sends back when the person cancels.
        return redirectBack(res, redirectUri, {
          error: 'access_denied',
          error_description: 'The user has denied your application access.',
          error_uri: `${OAUTH_ERRORS_DOCS}#access-denied`,
          ...state,
        });
      }
      const user = findUser(params.login ?? '');
      if (!user) return sendHtml(res, 400, page('Unknown account', '<p>There is no such account here.</p>'));
      const code = randomBytes(10).toString('hex'); // GitHub codes are 20 hex characters.
      codes.set(code, {
        clientId,
        redirectUri,
        userId: user.id,
        scope: (params.scope ?? '')
          .split(/[\s,]+/)
          .filter(Boolean)
          .join(','),
        challenge: params.code_challenge,
        expiresAt: Date.now() + codeLifetimeMs,
      });
      return redirectBack(res, redirectUri, { code, ...state });
    }

    if (route === 'POST /login/oauth/access_token') {
      return accessToken(req, res, url);
    }

    const memberCheck = /^GET \/api\/v3\/orgs\/([^/]+)\/members\/([^/]+)$/.exec(route);
    if (route === 'GET /api/v3/user/orgs' || route === 'GET /api/v3/user/teams' || memberCheck) {
      return memberships(req, res, url, memberCheck);
    }

    if (route === 'GET /api/v3/user' || route === 'GET /api/v3/user/emails') {
      if (url.pathname === '/api/v3/user' && failures.has('user')) {
        const status = failures.get('user')!;
        failures.delete('user');
        return sendJson(res, status, { message: 'Server Error', documentation_url: DOCS });
      }
      const { grant, user } = tokenOwner(req);
      if (!grant || !user) return badCredentials(res);
      if (url.pathname === '/api/v3/user') return sendJson(res, 200, userJson(user));
      // Without the user:email (or user) scope GitHub answers 404 here.
      const scopes = grant.scope.split(',');
      if (!scopes.includes('user:email') && !scopes.includes('user')) return notFound(res);
      const emails = user.emails ?? (user.email ? [{ email: user.email, primary: true, verified: true }] : []);
      return sendJson(
        res,
        200,
        emails.map((e) => ({ ...e, visibility: e.primary && e.email === user.email ? 'public' : null })),
      );
    }

    return notFound(res);
  }

  /** The access token's grant and user (`Authorization: Bearer|token <token>`), when it is one. */
  function tokenOwner(req: IncomingMessage) {
    const auth = /^(?:bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const grant = auth ? tokens.get(auth[1]!) : undefined;
    return { grant, user: grant && users.find((u) => u.id === grant.userId) };
  }
  const badCredentials = (res: ServerResponse) =>
    sendJson(res, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });

  /** https://docs.github.com/en/rest/orgs/members and /teams, as far as the gateway reads them. */
  function memberships(req: IncomingMessage, res: ServerResponse, url: URL, memberCheck: RegExpExecArray | null) {
    if (failures.has('memberships')) {
      const status = failures.get('memberships')!;
      failures.delete('memberships');
      if (status === 403) {
        res.writeHead(403, {
          'content-type': 'application/json; charset=utf-8',
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
        });
        return res.end(JSON.stringify({ message: 'API rate limit exceeded for user ID 1.', documentation_url: DOCS }));
      }
      return sendJson(res, status, { message: 'Server Error', documentation_url: DOCS });
    }
    const { grant, user } = tokenOwner(req);
    if (!grant || !user) return badCredentials(res);
    const login = user.login.toLowerCase();
    const readOrg = grant.scope.split(',').some((s) => s === 'read:org' || s === 'admin:org');
    if (memberCheck) {
      const org = orgs.get(decodeURIComponent(memberCheck[1]!).toLowerCase());
      const who = decodeURIComponent(memberCheck[2]!).toLowerCase();
      // A requester outside the organisation is sent to its public members.
      if (!org || !org.members.has(login) || !readOrg) {
        res.writeHead(302, { location: `${apiUrl}/orgs/${memberCheck[1]}/public_members/${memberCheck[2]}` });
        return res.end();
      }
      if (org.members.has(who)) {
        res.writeHead(204);
        return res.end();
      }
      return notFound(res);
    }
    if (!readOrg) {
      // /user/teams needs read:org; /user/orgs then lists public memberships only (none here).
      return url.pathname.endsWith('/teams')
        ? sendJson(res, 403, { message: 'Resource not accessible by integration', documentation_url: DOCS })
        : sendJson(res, 200, []);
    }
    const mine = [...orgs].filter(([, o]) => o.members.has(login));
    if (url.pathname.endsWith('/orgs')) {
      return sendJson(
        res,
        200,
        mine.map(([name], i) => ({ login: name, id: 5000 + i, url: `${apiUrl}/orgs/${name}` })),
      );
    }
    const teams = mine.flatMap(([name, o]) =>
      [...o.teams].filter(([, members]) => members.has(login)).map(([slug]) => ({ name, slug })),
    );
    return sendJson(
      res,
      200,
      teams.map((t, i) => ({ id: 7000 + i, slug: t.slug, name: t.slug, organization: { login: t.name, id: 5000 } })),
    );
  }

  function userJson(user: StandinUser) {
    return {
      login: user.login,
      id: user.id,
      node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
      avatar_url: `${baseUrl}/avatars/u/${user.id}?v=4`,
      url: `${apiUrl}/users/${user.login}`,
      html_url: `${baseUrl}/${user.login}`,
      type: 'User',
      site_admin: false,
      name: user.name ?? null,
      company: null,
      blog: '',
      location: null,
      email: user.email ?? null,
      bio: null,
      public_repos: 8,
      followers: 20,
      following: 0,
      created_at: '2011-01-25T18:44:36Z',
      updated_at: '2024-01-22T12:00:00Z',
    };
  }

  async function accessToken(req: IncomingMessage, res: ServerResponse, url: URL) {
    const body = { ...Object.fromEntries(url.searchParams), ...(await readBody(req)) };
    // GitHub answers JSON only when asked to; form-encoded otherwise.
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    const answer = (fields: Record<string, string>) => {
      if (wantsJson) return sendJson(res, 200, fields);
      res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
      res.end(new URLSearchParams(fields).toString());
    };
    // GitHub reports these errors with HTTP 200 and an `error` field.
    const refuse = (error: string, description: string) =>
      answer({
        error,
        error_description: description,
        error_uri: `${OAUTH_ERRORS_DOCS}#${error.replaceAll('_', '-')}`,
      });

    const failure = failures.get('token');
    if (failure !== undefined) {
      failures.delete('token');
      return sendJson(res, failure, { message: 'Server Error' });
    }

    // Client authentication in the body or with HTTP Basic (RFC 6749 §2.3.1).
    let id = body.client_id;
    let secret = body.client_secret;
    const basic = /^basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (id !== clientId || secret !== clientSecret) {
      return refuse('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    }

    // Single use: a code is gone once presented, whatever the outcome.
    const issued = body.code ? codes.get(body.code) : undefined;
    if (body.code) codes.delete(body.code);
    if (!issued || issued.clientId !== id || issued.expiresAt <= Date.now()) {
      return refuse('bad_verification_code', 'The code passed is incorrect or expired.');
    }
    // Stricter than GitHub, which tolerates an absent redirect_uri: the gateway always sends it.
    if (body.redirect_uri !== issued.redirectUri) {
      return refuse(
        'redirect_uri_mismatch',
        'The redirect_uri MUST match the registered callback URL for this application.',
      );
    }
    // RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) must equal the code_challenge.
    if (issued.challenge !== undefined) {
      const verifier = body.code_verifier ?? '';
      const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
      if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) || computed !== issued.challenge) {
        return refuse('bad_verification_code', 'The code_verifier does not match the code_challenge.');
      }
    }
    const token = `gho_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
    tokens.set(token, { userId: issued.userId, scope: issued.scope });
    grantedScopes.push(issued.scope);
    return answer({ access_token: token, token_type: 'bearer', scope: issued.scope });
  }

  return {
    baseUrl,
    apiUrl,
    clientId,
    clientSecret,
    users,
    requests,
    addUser(user) {
      users.push(user);
    },
    orgs,
    grantedScopes,
    join(org, login, teams = []) {
      const o = orgs.get(org.toLowerCase()) ?? { members: new Set<string>(), teams: new Map<string, Set<string>>() };
      o.members.add(login.toLowerCase());
      for (const team of teams) {
        const members = o.teams.get(team) ?? new Set<string>();
        members.add(login.toLowerCase());
        o.teams.set(team, members);
      }
      orgs.set(org.toLowerCase(), o);
    },
    leave(org, login) {
      const o = orgs.get(org.toLowerCase());
      if (!o) return;
      o.members.delete(login.toLowerCase());
      for (const members of o.teams.values()) members.delete(login.toLowerCase());
    },
    failNext(what, status) {
      failures.set(what, status);
    },
    async approve(authorizeUrl, login) {
      // Exactly what a browser does: load the page, submit the form with this login's button.
      const pageRes = await fetch(authorizeUrl);
      const html = await pageRes.text();
      if (pageRes.status !== 200) throw new Error(`the authorize page answered ${pageRes.status}: ${html}`);
      const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
      // Logins are case-insensitive on GitHub, so is the choice of button here.
      const button = `name="login" value="${escape(login)}"`.toLowerCase();
      const chosen = forms.find((f) => f.toLowerCase().includes(button));
      if (!chosen) throw new Error(`the authorize page has no button for ${login}`);
      const fields = new URLSearchParams();
      for (const input of chosen.match(/<(?:input|button)\b[^>]*>/g) ?? []) {
        const name = /\bname="([^"]*)"/.exec(input)?.[1];
        const value = /\bvalue="([^"]*)"/.exec(input)?.[1];
        if (name !== undefined) fields.append(unescape(name), unescape(value ?? ''));
      }
      const action = new URL(unescape(/\baction="([^"]*)"/.exec(chosen)![1]!), authorizeUrl);
      const res = await fetch(action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: fields.toString(),
        redirect: 'manual',
      });
      const location = res.headers.get('location');
      const text = await res.text();
      if (res.status !== 302 || !location) throw new Error(`the authorize form answered ${res.status}: ${text}`);
      return location;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
