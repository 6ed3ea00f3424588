/**
 * A tiny safe HTML builder. Every value interpolated into an `html` template is escaped unless it
 * is itself the output of `html`; there is deliberately no `raw()` escape hatch, so markup can
 * only come from template literals written in this codebase.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Only `html` can make one: the constructor refuses callers without the module's key. */
const KEY = Symbol('SafeHtml');

export class SafeHtml {
  readonly #text: string;
  constructor(key: symbol, text: string) {
    if (key !== KEY) throw new TypeError('SafeHtml is made by the html`` template only');
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
}

/** What may be interpolated: `false`, `null` and `undefined` render nothing (`${cond && html`…`}`). */
export type HtmlValue = SafeHtml | string | number | false | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === false || value === null || value === undefined) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new SafeHtml(KEY, out);
}

/**
 * A stylesheet written in this codebase. It takes no interpolations, so there is nothing to
 * escape; "<" is refused so that it can never close its <style> element.
 */
export function css(strings: TemplateStringsArray): SafeHtml {
  const text = strings.join('');
  if (text.includes('<')) throw new TypeError('a stylesheet must not contain "<"');
  return new SafeHtml(KEY, text);
}

/** "A", "A and B", "A, B and C". */
export function andList(items: readonly HtmlValue[]): SafeHtml {
  return html`${items.map((item, i) => (i === 0 ? html`${item}` : i < items.length - 1 ? html`, ${item}` : html` and ${item}`))}`;
}
