import { createHash } from 'node:crypto';
import * as htmlModule from '../../auth/src/pages/html.ts';
import { andList, css, html, SafeHtml } from '../../auth/src/pages/html.ts';
import { renderConsent, type ConsentPage } from '../../auth/src/pages/consent.ts';
import { renderError } from '../../auth/src/pages/error.ts';
import { PAGE_HEADERS } from '../../auth/src/pages/layout.ts';
import { renderLogin, type LoginPage } from '../../auth/src/pages/login.ts';

const github = { id: 'github', displayName: 'GitHub', href: '/interaction/u1/login/github' };
const local = { action: '/interaction/u1/login/local', csrf: 'csrf-login-token', login: 'local' };
const login: LoginPage = { clientName: 'Claude Code', serviceNames: ['Echo'], providers: [github] };
const consent: ConsentPage = {
  clientName: 'Claude Code',
  clientId: 'c_0123456789abcdef',
  redirectHost: 'localhost:33418',
  redirectScheme: 'http',
  serviceNames: ['Echo'],
  scopes: ['mcp'],
  user: { login: 'octocat', provider: 'github', name: 'The Octocat' },
  action: '/interaction/u1/consent',
  csrf: 'csrf-consent-token',
  unverifiedName: true,
};
const error = { title: 'This sign-in cannot continue', message: 'Not allowed.', detail: 'Error: access_denied' };

/**
 * The project's prettier formats `html` templates, so the markup's whitespace is not ours to
 * assert on: collapse it (and `/>`) before comparing.
 */
const flat = (page: string) =>
  page
    .replace(/\s*\/?>/g, '>')
    .replace(/>\s+</g, '><')
    .replace(/\s+/g, ' ')
    .trim();

/** Every kind of page, with sample data free of URLs. */
const rendered: Record<string, string> = {
  'login (GitHub)': renderLogin(login),
  'login (GitHub + local, error)': renderLogin({ ...login, local: { ...local, error: 'Wrong password.' } }),
  'login (local, locked)': renderLogin({ ...login, providers: [], local: { ...local, locked: true } }),
  consent: renderConsent(consent),
  'consent (custom scheme)': renderConsent({ ...consent, redirectHost: 'anysphere.cursor', redirectScheme: 'cursor' }),
  error: renderError({ ...error, retryHref: '/interaction/u1/login' }),
};
const samples = Object.fromEntries(Object.entries(rendered).map(([name, page]) => [name, flat(page)]));

const EVIL = `<script>alert(1)</script>" onmouseover='x' \`y\``;
const EVIL_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&#39;x&#39; &#96;y&#96;';

const inputs = (page: string) => page.match(/<input\b[^>]*>/g) ?? [];
const attr = (tag: string, name: string) => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
const cspHash = () => /style-src 'sha256-([^']+)'/.exec(PAGE_HEADERS['Content-Security-Policy']!)?.[1];

describe('html', () => {
  test('escapes every interpolated value, including quotes and backticks', () => {
    expect(html`<p title="${EVIL}">${EVIL}</p>`.toString()).toBe(`<p title="${EVIL_ESCAPED}">${EVIL_ESCAPED}</p>`);
    expect(html`${'&amp;'}`.toString()).toBe('&amp;amp;');
  });

  test('keeps its own output, joins arrays, drops false/null/undefined, prints numbers', () => {
    const items = ['a<', 'b>'].map((x) => html`<li>${x}</li>`);
    const list = html`<ul>
      ${items}
    </ul>`;
    expect(flat(list.toString())).toBe('<ul><li>a&lt;</li><li>b&gt;</li></ul>');
    expect(html`${false}${null}${undefined}${0}`.toString()).toBe('0');
    expect(andList(['A', 'B', '<C>']).toString()).toBe('A, B and &lt;C&gt;');
  });

  test('has no escape hatch', () => {
    expect(Object.keys(htmlModule).sort()).toEqual(['SafeHtml', 'andList', 'css', 'escapeHtml', 'html']);
    expect(() => new SafeHtml(Symbol('SafeHtml'), '<b>')).toThrow(TypeError);
    const Ctor = html``.constructor as new (key: symbol, text: string) => SafeHtml;
    expect(() => new Ctor(Symbol('SafeHtml'), '<b>')).toThrow(TypeError);
    const sheet = css`
      p {
        color: red;
      }
    `;
    expect(flat(sheet.toString())).toBe('p { color: red; }');
    expect(() => css`</style><script>`).toThrow(TypeError);
  });
});

describe('every page', () => {
  test('escapes every value the caller passes', () => {
    const evilLocal = { action: EVIL, csrf: EVIL, login: EVIL, error: EVIL };
    const pages = [
      renderLogin({
        clientName: EVIL,
        serviceNames: [EVIL, EVIL],
        providers: [{ id: EVIL, displayName: EVIL, href: EVIL }],
        local: evilLocal,
        error: EVIL,
      }),
      renderConsent({
        clientName: EVIL,
        clientId: EVIL,
        redirectHost: EVIL,
        redirectScheme: EVIL,
        serviceNames: [EVIL],
        scopes: [EVIL],
        user: { login: EVIL, provider: EVIL, name: EVIL },
        action: EVIL,
        csrf: EVIL,
        unverifiedName: true,
      }),
      renderConsent({ ...consent, redirectHost: EVIL, redirectScheme: 'https', unverifiedName: false, clientId: EVIL }),
      renderError({ title: EVIL, message: EVIL, detail: EVIL, retryHref: EVIL }),
    ];
    for (const page of pages) {
      expect(page).toContain(EVIL_ESCAPED);
      expect(page).not.toContain('<script');
      expect(page).not.toContain('" onmouseover');
      expect(page).not.toContain("'x'");
      expect(page).not.toContain('`');
    }
  });

  test.each(Object.entries(rendered))('%s: the CSP hash is the hash of the inline stylesheet', (_name, page) => {
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)];
    expect(styles).toHaveLength(1);
    const digest = createHash('sha256').update(styles[0]![1]!).digest('base64');
    expect(cspHash()).toBe(digest);
    expect(page).not.toMatch(/\sstyle="/); // inline style attributes would be blocked by the CSP
    expect(page).not.toMatch(/<script|\son\w+=/i);
  });

  test.each(Object.entries(samples))('%s: no URL of its own, nothing external', (_name, page) => {
    expect(page).not.toMatch(/https?:|\/\//);
    expect(page).not.toMatch(/\ssrc=/);
    expect(page.match(/<link\b[^>]*>/g)).toEqual(['<link rel="icon" href="data:,">']);
  });

  test('only caller-given URLs appear', () => {
    const page = renderConsent({
      ...consent,
      clientId: 'https://app.example/client.json',
      redirectHost: 'app.example',
    });
    expect(page.replaceAll('https://app.example/client.json', '')).not.toMatch(/https?:|\/\//);
  });

  test.each(Object.entries(samples))('%s: html lang, a title, one h1, a label for every input', (_name, page) => {
    expect(page.startsWith('<!doctype html><html lang="en">')).toBe(true);
    expect(page).toContain('<meta charset="utf-8">');
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page).toMatch(/<title>[^<]+ · MCP Gateway<\/title>/);
    expect(page.match(/<h1>/g)).toHaveLength(1);
    expect(page.match(/<main>/g)).toHaveLength(1);
    for (const input of inputs(page).filter((i) => attr(i, 'type') !== 'hidden')) {
      const id = attr(input, 'id');
      expect(id).toBeTruthy();
      expect(page).toContain(`<label for="${id}">`);
    }
  });
});

describe('PAGE_HEADERS', () => {
  test('forbid framing, sniffing, referrers, caching and anything but the hashed stylesheet', () => {
    const csp = PAGE_HEADERS['Content-Security-Policy']!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).not.toContain('form-action'); // would break the consent answer's redirect in Chrome
    expect(csp).not.toContain('unsafe');
    expect(csp).not.toContain('script-src');
    expect(PAGE_HEADERS).toMatchObject({
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'Content-Type': 'text/html; charset=utf-8',
    });
  });
});

describe('login page', () => {
  test('names the application and the service, and links to each provider', () => {
    const page = flat(renderLogin({ ...login, serviceNames: ['Echo', 'Fetch'] }));
    expect(page).toContain('<h1>Sign in</h1>');
    expect(page).toContain(
      '<strong>Claude Code</strong> wants to use the MCP services <strong>Echo</strong> and <strong>Fetch</strong>',
    );
    expect(page).toContain('<a class="button primary" href="/interaction/u1/login/github">Continue with GitHub</a>');
  });

  test('has a password form only when there is a local user', () => {
    expect(samples['login (GitHub)']).not.toContain('<form');
    expect(samples['login (GitHub)']).not.toContain('name="password"');
    const page = flat(renderLogin({ ...login, local }));
    const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page);
    expect(form?.[1]).toBe(local.action);
    const fields = inputs(form![2]!);
    expect(fields.find((i) => attr(i, 'name') === 'csrf')).toBe(
      '<input type="hidden" name="csrf" value="csrf-login-token">',
    );
    const username = fields.find((i) => attr(i, 'name') === 'username')!;
    expect(attr(username, 'value')).toBe('local');
    expect(username).toMatch(/\sreadonly[\s>]/);
    const password = fields.find((i) => attr(i, 'name') === 'password')!;
    expect(attr(password, 'type')).toBe('password');
    expect(attr(password, 'autocomplete')).toBe('current-password');
    expect(page).toContain('<button class="button primary" type="submit">Sign in</button>');
    expect(page).not.toContain('role="alert"');
    expect(page).not.toMatch(/\sdisabled[\s>]/);
  });

  test('shows the local error inside role="alert", tied to the password field', () => {
    const page = samples['login (GitHub + local, error)']!;
    expect(page).toMatch(/<p class="alert" role="alert" id="login-error">Wrong password\.<\/p>/);
    expect(page).toMatch(/name="password"[^>]*aria-invalid="true" aria-describedby="login-error"/);
  });

  test('when locked, says to wait and disables the form', () => {
    const page = samples['login (local, locked)']!;
    expect(page).toMatch(/role="alert"[^>]*>[^<]*Wait a few minutes/);
    for (const input of inputs(page).filter((i) => attr(i, 'type') !== 'hidden')) expect(input).toMatch(/ disabled>$/);
    expect(page).toContain('<button class="button primary" type="submit" disabled>');
  });

  test('announces a page-level error', () => {
    expect(flat(renderLogin({ ...login, error: 'GitHub refused.' }))).toContain(
      '<p class="alert" role="alert">GitHub refused.</p>',
    );
  });
});

describe('consent page', () => {
  const page = samples.consent!;

  test('says who asks, for which service, as whom, and where the browser goes next', () => {
    expect(page).toContain('<h1>Allow access?</h1>');
    expect(page).toMatch(
      /<strong>Claude Code<\/strong> wants to use the MCP service <strong>Echo<\/strong> as\s<strong>octocat<\/strong> \(The Octocat, via GitHub\)/,
    );
    expect(page).toMatch(/you will be sent to\s<strong>localhost:33418<\/strong>/);
    expect(page).toContain('<li>Call the service&#39;s tools and read its resources</li>');
  });

  test('has a CSRF-protected form with Allow (primary) and Deny (secondary)', () => {
    const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(page);
    expect(form?.[1]).toBe('/interaction/u1/consent');
    expect(form![2]).toContain('<input type="hidden" name="csrf" value="csrf-consent-token">');
    expect(form![2]).toContain(
      '<button class="button primary" type="submit" name="decision" value="allow">Allow</button>',
    );
    expect(form![2]).toContain(
      '<button class="button secondary" type="submit" name="decision" value="deny">Deny</button>',
    );
  });

  test('warns that a self-chosen name is not verified, with the client id', () => {
    expect(page).toMatch(
      /This name was chosen by the application itself and is not verified\.\s<code>c_0123456789abcdef<\/code>/,
    );
    const verified = flat(renderConsent({ ...consent, unverifiedName: false }));
    expect(verified).not.toContain('not verified');
    expect(verified).toContain('<code>c_0123456789abcdef</code>');
  });

  test('for a custom scheme, says which application will open', () => {
    const custom = samples['consent (custom scheme)']!;
    expect(custom).toContain('the application registered for <code>cursor:</code>');
    expect(custom).toContain('<code>anysphere.cursor</code>');
    expect(custom).not.toContain('you will be sent to');
  });

  test('lists other scopes by their raw name', () => {
    const other = flat(
      renderConsent({ ...consent, scopes: ['mcp', 'profile'], user: { login: 'local', provider: 'local' } }),
    );
    expect(other).toContain('<li><code>profile</code></li>');
    expect(other).toMatch(/<strong>local<\/strong> \(via local sign-in\)\./);
  });
});
