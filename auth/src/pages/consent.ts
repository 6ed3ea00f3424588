/**
 * The consent page, once per (user, client) as the MCP security best practices ask: who asks
 * (with a warning that a self-registered name proves nothing), for which service, as whom, and
 * where the browser goes next. Allow is the primary button, Deny the secondary one.
 */
import { html } from './html.ts';
import { page } from './layout.ts';
import { servicePhrase } from './login.ts';

export interface ConsentPage {
  clientName: string;
  clientId: string;
  redirectHost: string;
  redirectScheme: string;
  serviceNames: string[];
  scopes: string[];
  user: { login: string; provider: string; name?: string };
  action: string;
  csrf: string;
  unverifiedName: boolean;
}

const SCOPE_MEANINGS: Record<string, string> = {
  mcp: "Call the service's tools and read its resources",
};

const PROVIDER_NAMES: Record<string, string> = { github: 'GitHub', local: 'local sign-in' };

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])(:\d+)?$/i;

function destination(p: ConsentPage) {
  if (p.redirectScheme && p.redirectScheme !== 'http' && p.redirectScheme !== 'https') {
    const host =
      p.redirectHost !== p.redirectScheme && html`<span class="small muted"><code>${p.redirectHost}</code></span>`;
    return html`<p class="target">
      After you allow it, your browser will open
      <strong>the application registered for <code>${p.redirectScheme}:</code></strong
      >${host}
    </p>`;
  }
  const local = LOOPBACK.test(p.redirectHost) && html`<span class="small muted">an application on this computer</span>`;
  return html`<p class="target">After you allow it, you will be sent to <strong>${p.redirectHost}</strong>${local}</p>`;
}

export function renderConsent(p: ConsentPage): string {
  const via = p.user.provider && `via ${PROVIDER_NAMES[p.user.provider] ?? p.user.provider}`;
  const about = [p.user.name !== p.user.login && p.user.name, via].filter(Boolean).join(', ');
  const scopes = p.scopes.map((s) => html`<li>${SCOPE_MEANINGS[s] ?? html`<code>${s}</code>`}</li>`);
  return page({
    title: 'Allow access?',
    main: html`<h1>Allow access?</h1>
      <p>
        <strong>${p.clientName}</strong> wants to use ${servicePhrase(p.serviceNames)} as
        <strong>${p.user.login}</strong>${about && ` (${about})`}.
      </p>
      ${
        p.unverifiedName
          ? html`<p class="note">
              This name was chosen by the application itself and is not verified. <code>${p.clientId}</code>
            </p>`
          : html`<p class="small muted">Application <code>${p.clientId}</code></p>`
      }
      ${destination(p)}
      ${
        scopes.length > 0 &&
        html`<h2>It will be able to</h2>
          <ul>
            ${scopes}
          </ul>`
      }
      <form method="post" action="${p.action}">
        <input type="hidden" name="csrf" value="${p.csrf}" />
        <div class="actions">
          <button class="button primary" type="submit" name="decision" value="allow">Allow</button>
          <button class="button secondary" type="submit" name="decision" value="deny">Deny</button>
        </div>
      </form>
      <p class="small muted">Only allow applications you started yourself.</p>`,
  });
}
