/**
 * A person with a browser, minus the browser: follows redirects, keeps cookies (per origin and
 * path, as a browser would), and answers the pages on the way: the gateway's login page, the
 * GitHub stand-in's authorize page, the consent page. Headless Chromium does the same through
 * the real pages in the end-to-end suite; this one is fast enough for every protocol test.
 */
import type { GitHubStandin } from './github-standin.ts';

interface Cookie {
  value: string;
  path: string;
}

export interface Page {
  url: string;
  status: number;
  body: string;
  headers: Headers;
}

export interface AuthorizeOptions {
  /** GitHub login to approve at the stand-in. */
  login?: string;
  /** Sign in with the OpenID Connect stand-in, as this user (`sub`), instead of GitHub. */
  oidcUser?: string;
  /** The local user's password (embedded default). */
  password?: string;
  consent?: 'allow' | 'deny';
  /** Called with every page the person sees. */
  onPage?: (kind: 'login' | 'github' | 'oidc' | 'consent' | 'other', page: Page) => void;
}

export class Person {
  private readonly jar = new Map<string, Map<string, Cookie>>();
  private readonly gateway: string;
  private readonly github?: GitHubStandin;
  /** The OpenID Connect stand-in's issuer (tests/support/oidc-standin.ts). */
  private readonly oidc?: string;
  readonly seen: { kind: string; url: string }[] = [];

  /** Other origins whose pages this person answers like the gateway's (another gateway as an upstream). */
  private readonly others: string[];

  constructor(gatewayUrl: string, github?: GitHubStandin, oidc?: { issuer: string }, others: string[] = []) {
    this.gateway = new URL(gatewayUrl).origin;
    this.github = github;
    this.oidc = oidc && new URL(oidc.issuer).origin;
    this.others = others.map((o) => new URL(o).origin);
  }

  private cookieHeader(url: URL): string | undefined {
    const cookies = this.jar.get(url.origin);
    if (!cookies) return undefined;
    const pairs = [...cookies].filter(([, c]) => url.pathname.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`);
    return pairs.length ? pairs.join('; ') : undefined;
  }

  private keep(url: URL, headers: Headers) {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path =
        attrs
          .map((a) => a.trim())
          .find((a) => a.toLowerCase().startsWith('path='))
          ?.slice(5) ?? '/';
      const expired = attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a.trim())) || value === '';
      const cookies = this.jar.get(url.origin) ?? new Map<string, Cookie>();
      if (expired) cookies.delete(name);
      else cookies.set(name, { value, path });
      this.jar.set(url.origin, cookies);
    }
  }

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = target.origin;
      headers['sec-fetch-site'] = 'same-origin';
      body = new URLSearchParams(init.form).toString();
    }
    Object.assign(headers, init.headers);
    const res = await fetch(target, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    });
    this.keep(target, res.headers);
    return { url: target.href, status: res.status, body: await res.text(), headers: res.headers };
  }

  /**
   * Walks an authorization URL to its end; returns the URL the gateway finally sends the
   * browser to (the client's redirect URI with code or error).
   */
  async authorize(authorizationUrl: string, options: AuthorizeOptions = {}): Promise<URL> {
    let next: { url: string; form?: Record<string, string> } | undefined = { url: authorizationUrl };
    for (let hops = 0; hops < 30 && next; hops++) {
      const page = await this.request(next.url, { form: next.form });
      next = undefined;
      if (page.status >= 300 && page.status < 400) {
        const location = new URL(page.headers.get('location')!, page.url);
        const known = [this.gateway, this.github && new URL(this.github.baseUrl).origin, this.oidc, ...this.others];
        if (!known.includes(location.origin)) return location;
        next = { url: location.href };
        continue;
      }
      next = await this.answer(page, options);
    }
    throw new Error('the authorization did not finish');
  }

  private async answer(page: Page, options: AuthorizeOptions): Promise<{ url: string; form?: Record<string, string> }> {
    const githubLink = /href="(\/interaction\/[^"]+\/login\/github)"/.exec(page.body);
    const oidcLink = /href="(\/interaction\/[^"]+\/login\/oidc)"/.exec(page.body);
    const isGitHub = this.github && page.url.startsWith(this.github.baseUrl);
    const isOidc = this.oidc !== undefined && page.url.startsWith(this.oidc);
    const kind = isGitHub
      ? 'github'
      : isOidc
        ? 'oidc'
        : /name="decision"/.test(page.body)
          ? 'consent'
          : githubLink || oidcLink || /name="password"/.test(page.body)
            ? 'login'
            : 'other';
    this.seen.push({ kind, url: page.url });
    options.onPage?.(kind, page);
    if (page.status !== 200) throw new PageError(page);
    if (kind === 'github') {
      return { url: await this.github!.approve(page.url, options.login ?? 'octocat') };
    }
    if (kind === 'oidc') {
      const sub = options.oidcUser ?? '';
      const form = (page.body.match(/<form[\s\S]*?<\/form>/g) ?? []).find((f) => f.includes(`value="${sub}"`));
      if (!form) throw new PageError(page);
      return { url: new URL(formAction(form), page.url).href, form: { sub } };
    }
    if (kind === 'login') {
      if (options.oidcUser !== undefined) {
        if (!oidcLink) throw new PageError(page);
        return { url: new URL(oidcLink[1]!, page.url).href };
      }
      if (options.password !== undefined && /name="password"/.test(page.body)) {
        return {
          url: new URL(formAction(page.body), page.url).href,
          form: { csrf: csrf(page.body), username: 'local', password: options.password },
        };
      }
      if (!githubLink) throw new PageError(page);
      return { url: new URL(githubLink[1]!, page.url).href };
    }
    if (kind === 'consent') {
      return {
        url: new URL(formAction(page.body), page.url).href,
        form: { csrf: csrf(page.body), decision: options.consent ?? 'allow' },
      };
    }
    throw new PageError(page);
  }
}

export class PageError extends Error {
  readonly page: Page;
  constructor(page: Page) {
    super(
      `unexpected page ${page.status} at ${page.url}: ${page.body
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 400)}`,
    );
    this.page = page;
  }
}

const decode = (s: string) =>
  s
    .replaceAll('&amp;', '&')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');

export function formAction(html: string): string {
  const m = /<form[^>]*\saction="([^"]+)"/.exec(html);
  if (!m) throw new Error('no form on the page');
  return decode(m[1]!);
}

export function csrf(html: string): string {
  const input = /<input[^>]*name="csrf"[^>]*>/.exec(html)?.[0];
  const value = input && /value="([^"]*)"/.exec(input)?.[1];
  if (!value) throw new Error('no csrf field on the page');
  return decode(value);
}
