/**
 * The login page: which application asks, for which MCP service(s); one link per upstream
 * provider, and the embedded default's password form when there is a local user.
 */
import { andList, html } from './html.ts';
import { page } from './layout.ts';

export interface LoginPage {
  clientName: string;
  serviceNames: string[];
  /** `unavailable`: why the provider cannot be used now (its button is then disabled, with that reason). */
  providers: { id: string; displayName: string; href: string; unavailable?: string }[];
  local?: { action: string; csrf: string; login: string; error?: string; locked?: boolean };
  error?: string;
}

const LOCKED = 'Too many failed attempts. Wait a few minutes, then reload this page.';

/** "the MCP service <b>Echo</b>", "the MCP services <b>Echo</b> and <b>Fetch</b>", "an MCP service". */
export function servicePhrase(names: readonly string[]) {
  if (names.length === 0) return html`an MCP service`;
  const list = andList(names.map((n) => html`<strong>${n}</strong>`));
  return names.length === 1 ? html`the MCP service ${list}` : html`the MCP services ${list}`;
}

function localForm(local: NonNullable<LoginPage['local']>) {
  const alert = local.error ?? (local.locked ? LOCKED : undefined);
  const off = local.locked ? html` disabled` : '';
  const invalid = alert && !local.locked ? html` aria-invalid="true" aria-describedby="login-error"` : '';
  return html`<form method="post" action="${local.action}">
    <input type="hidden" name="csrf" value="${local.csrf}" />
    ${alert && html`<p class="alert" role="alert" id="login-error">${alert}</p>`}
    <label for="username">Username</label>
    <input id="username" name="username" value="${local.login}" readonly autocomplete="username" ${off} />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required${invalid}${off} />
    <button class="button primary" type="submit" ${off}>Sign in</button>
  </form>`;
}

export function renderLogin(p: LoginPage): string {
  const links = p.providers.map((provider) =>
    provider.unavailable === undefined
      ? html`<a class="button primary" href="${provider.href}">Continue with ${provider.displayName}</a>`
      : html`<p class="alert" role="status">
          <strong>${provider.displayName}</strong> is unavailable right now; the gateway keeps trying to reach it.
          Reload this page in a minute.
        </p>`,
  );
  return page({
    title: 'Sign in',
    main: html`<h1>Sign in</h1>
      <p><strong>${p.clientName}</strong> wants to use ${servicePhrase(p.serviceNames)}. Sign in to continue.</p>
      ${p.error && html`<p class="alert" role="alert">${p.error}</p>`}
      ${links.length > 0 && html`<div class="stack">${links}</div>`}
      ${links.length > 0 && p.local && html`<p class="or">or</p>`} ${p.local && localForm(p.local)}`,
  });
}
