/**
 * The document around every page: one inline stylesheet (allowed by its hash in the CSP), no
 * scripts, no external URLs of any kind, and headers that forbid framing and caching.
 */
import { createHash } from 'node:crypto';
import { css, html, type SafeHtml } from './html.ts';

/**
 * Colours meet WCAG AA (4.5:1 for text, 3:1 for field borders) in both schemes. Inlined and
 * hashed verbatim.
 */
const STYLESHEET = css`
  :root {
    color-scheme: light dark;
    --bg: #f3f4f6;
    --card: #ffffff;
    --text: #1f2328;
    --muted: #57606a;
    --line: #d8dee4;
    --field: #ffffff;
    --field-line: #6e7781;
    --readonly: #f3f4f6;
    --accent: #0b57d0;
    --on-accent: #ffffff;
    --accent-hover: #0842a0;
    --focus: #0b57d0;
    --warn-bg: #fff8c5;
    --warn-line: #d4a72c;
    --warn-text: #5c4400;
    --error-bg: #ffebe9;
    --error-line: #cf222e;
    --error-text: #a40e26;
  }
  @media (prefers-color-scheme: dark) {
    :root {
      --bg: #0d1117;
      --card: #161b22;
      --text: #e6edf3;
      --muted: #9da7b3;
      --line: #30363d;
      --field: #0d1117;
      --field-line: #7d8590;
      --readonly: #21262d;
      --accent: #4493f8;
      --on-accent: #0d1117;
      --accent-hover: #79b8ff;
      --focus: #79b8ff;
      --warn-bg: #2e2409;
      --warn-line: #9e6a03;
      --warn-text: #f2cc60;
      --error-bg: #3c1618;
      --error-line: #f85149;
      --error-text: #ffa198;
    }
  }
  *,
  *::before,
  *::after {
    box-sizing: border-box;
  }
  html {
    -webkit-text-size-adjust: 100%;
    text-size-adjust: 100%;
  }
  body {
    margin: 0;
    min-height: 100vh;
    display: flex;
    align-items: center;
    justify-content: center;
    padding: 2rem 1rem;
    background: var(--bg);
    color: var(--text);
    font:
      1rem/1.5 system-ui,
      -apple-system,
      'Segoe UI',
      Roboto,
      'Helvetica Neue',
      Arial,
      sans-serif;
  }
  main {
    width: 100%;
    max-width: 28rem;
    padding: 2rem;
    background: var(--card);
    border: 1px solid var(--line);
    border-radius: 0.75rem;
    box-shadow:
      0 1px 2px rgb(0 0 0 / 0.05),
      0 8px 24px rgb(0 0 0 / 0.06);
  }
  main > :last-child {
    margin-bottom: 0;
  }
  .brand {
    margin: 0 0 1.25rem;
    color: var(--muted);
    font-size: 0.8125rem;
    font-weight: 600;
    letter-spacing: 0.04em;
    text-transform: uppercase;
  }
  h1 {
    margin: 0 0 0.75rem;
    font-size: 1.5rem;
    line-height: 1.25;
  }
  h2 {
    margin: 1.25rem 0 0.5rem;
    font-size: 1rem;
  }
  p {
    margin: 0 0 1rem;
  }
  ul {
    margin: 0 0 1rem;
    padding-left: 1.25rem;
  }
  li + li {
    margin-top: 0.25rem;
  }
  strong {
    font-weight: 600;
    overflow-wrap: anywhere;
  }
  code {
    font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
    font-size: 0.875em;
    overflow-wrap: anywhere;
  }
  .muted,
  .small {
    color: var(--muted);
  }
  .small {
    font-size: 0.875rem;
  }
  .target {
    padding: 0.75rem 1rem;
    border: 1px solid var(--line);
    border-radius: 0.5rem;
  }
  .target strong {
    display: block;
    font-size: 1.125rem;
  }
  .target span {
    display: block;
  }
  .note,
  .alert {
    padding: 0.75rem 1rem;
    border: 1px solid;
    border-left-width: 4px;
    border-radius: 0.5rem;
    font-size: 0.9375rem;
  }
  .note {
    background: var(--warn-bg);
    border-color: var(--warn-line);
    color: var(--warn-text);
  }
  .note code {
    display: block;
    margin-top: 0.25rem;
  }
  .alert {
    background: var(--error-bg);
    border-color: var(--error-line);
    color: var(--error-text);
  }
  form {
    margin: 0;
  }
  label {
    display: block;
    margin-bottom: 0.25rem;
    font-weight: 600;
  }
  input {
    display: block;
    width: 100%;
    margin-bottom: 1rem;
    padding: 0.625rem 0.75rem;
    font: inherit;
    color: inherit;
    background: var(--field);
    border: 1px solid var(--field-line);
    border-radius: 0.5rem;
  }
  input[readonly] {
    background: var(--readonly);
  }
  input:disabled {
    opacity: 0.55;
    cursor: not-allowed;
  }
  input[aria-invalid='true'] {
    border-color: var(--error-line);
  }
  .button {
    display: block;
    width: 100%;
    padding: 0.6875rem 1rem;
    font: inherit;
    font-weight: 600;
    text-align: center;
    text-decoration: none;
    border: 1px solid transparent;
    border-radius: 0.5rem;
    cursor: pointer;
  }
  .primary {
    background: var(--accent);
    color: var(--on-accent);
  }
  .primary:hover {
    background: var(--accent-hover);
  }
  .secondary {
    background: transparent;
    color: var(--text);
    border-color: var(--field-line);
  }
  .secondary:hover {
    background: var(--readonly);
  }
  .button:disabled {
    opacity: 0.55;
    cursor: not-allowed;
  }
  .stack {
    display: grid;
    gap: 0.75rem;
  }
  .actions {
    display: flex;
    gap: 0.75rem;
    margin: 1.5rem 0 1rem;
  }
  .actions .button {
    flex: 1;
  }
  .or {
    display: flex;
    align-items: center;
    gap: 0.75rem;
    margin: 1.25rem 0;
    color: var(--muted);
    font-size: 0.875rem;
  }
  .or::before,
  .or::after {
    content: '';
    flex: 1;
    border-top: 1px solid var(--line);
  }
  a {
    color: var(--accent);
  }
  :focus-visible {
    outline: 3px solid var(--focus);
    outline-offset: 2px;
  }
  @media (max-width: 30rem) {
    body {
      align-items: flex-start;
      padding: 1rem 0.75rem;
    }
    main {
      padding: 1.5rem 1.25rem;
    }
    .actions {
      flex-direction: column;
    }
  }
`;

/** Hashed exactly as inlined: the CSP hash covers the whole text of the <style> element. */
const STYLE_HASH = createHash('sha256').update(STYLESHEET.toString()).digest('base64');
// Kept on one line: whitespace around the stylesheet would be outside the hash.
// prettier-ignore
const STYLE_ELEMENT = html`<style>${STYLESHEET}</style>`;

/**
 * No `form-action`: Chrome applies it to the redirects that follow a form POST, and the consent
 * form's answer redirects to the client's redirect URI (another origin or a custom scheme).
 */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src data:; base-uri 'none'; frame-ancestors 'none'`,
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Content-Type': 'text/html; charset=utf-8',
};

export function page(p: { title: string; main: SafeHtml; lang?: string }): string {
  return html`<!doctype html>
    <html lang="${p.lang ?? 'en'}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${p.title} · MCP Gateway</title>
        <link rel="icon" href="data:," />
        ${STYLE_ELEMENT}
      </head>
      <body>
        <main>
          <p class="brand">MCP Gateway</p>
          ${p.main}
        </main>
      </body>
    </html> `.toString();
}
