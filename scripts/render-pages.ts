/**
 * Writes every page with sample data to /tmp/pages/*.html (or the directory given), to look at
 * them in a browser: `node scripts/render-pages.ts [dir]`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConsent } from '../auth/src/pages/consent.ts';
import { renderError } from '../auth/src/pages/error.ts';
import { renderLogin } from '../auth/src/pages/login.ts';

const dir = process.argv[2] ?? '/tmp/pages';
const github = { id: 'github', displayName: 'GitHub', href: '/interaction/abc/login/github' };
const local = { action: '/interaction/abc/login/local', csrf: 'csrf-token', login: 'local' };
const consent = {
  clientName: 'Claude Code',
  clientId: 'c_3f9a1d2e7b8c4a6f9e0d1c2b3a4f5e6d',
  redirectHost: 'localhost:33418',
  redirectScheme: 'http',
  serviceNames: ['Echo'],
  scopes: ['mcp'],
  user: { login: 'octocat', provider: 'github', name: 'The Octocat' },
  action: '/interaction/abc/consent',
  csrf: 'csrf-token',
  unverifiedName: true,
};

const pages: Record<string, string> = {
  'login-github': renderLogin({ clientName: 'Claude Code', serviceNames: ['Echo'], providers: [github] }),
  'login-local': renderLogin({ clientName: 'Cursor', serviceNames: ['Echo', 'Fetch'], providers: [], local }),
  'login-both-error': renderLogin({
    clientName: 'MCP Inspector',
    serviceNames: ['Echo', 'Fetch', 'Files'],
    providers: [github],
    local: { ...local, error: 'Wrong password.' },
  }),
  'login-locked': renderLogin({
    clientName: 'Cursor',
    serviceNames: [],
    providers: [],
    local: { ...local, locked: true },
  }),
  consent: renderConsent(consent),
  'consent-custom-scheme': renderConsent({
    ...consent,
    clientName: 'Cursor',
    redirectHost: 'anysphere.cursor-retrieval',
    redirectScheme: 'cursor',
    serviceNames: ['Echo', 'Fetch'],
    scopes: ['mcp', 'profile', 'email'],
  }),
  'consent-verified': renderConsent({
    ...consent,
    clientName: 'VS Code',
    clientId: 'https://vscode.dev/oauth/client-metadata.json',
    redirectHost: 'vscode.dev',
    redirectScheme: 'https',
    user: { login: 'local', provider: 'local' },
    unverifiedName: false,
  }),
  'consent-hostile': renderConsent({
    ...consent,
    clientName: '<script>alert(1)</script>" onmouseover=alert(2) a-very-long-name-without-any-spaces-at-all-xxxxxxxx',
  }),
  error: renderError({
    title: 'This sign-in cannot continue',
    message: 'Your GitHub account octocat is not allowed to use this gateway. Ask its administrator to add you.',
    detail: 'Error: access_denied',
    retryHref: '/interaction/abc/login',
  }),
  'error-plain': renderError({
    title: 'Something went wrong',
    message: 'This sign-in page has expired or was opened in another browser. Start again from your application.',
  }),
};

mkdirSync(dir, { recursive: true });
for (const [name, body] of Object.entries(pages)) writeFileSync(join(dir, `${name}.html`), body);
console.log(`wrote ${Object.keys(pages).length} pages to ${dir}`);
