/** The page for a login that cannot go on: user not allowed, upstream refused, session expired. */
import { html } from './html.ts';
import { page } from './layout.ts';

export function renderError(p: {
  title: string;
  message: string;
  detail?: string;
  retryHref?: string;
  /** Ends the sign-in and returns to the application, which learns that access was denied. */
  backHref?: string;
}): string {
  return page({
    title: p.title,
    main: html`<h1>${p.title}</h1>
      <p>${p.message}</p>
      ${p.detail && html`<p class="small">${p.detail}</p>`}
      ${p.retryHref && html`<p class="actions"><a class="button primary" href="${p.retryHref}">Try again</a></p>`}
      ${
        p.backHref &&
        html`<p class="actions"><a class="button primary" href="${p.backHref}">Return to the application</a></p>`
      }`,
  });
}
