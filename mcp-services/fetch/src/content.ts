/** What the fetch tool makes of a response body: HTML to Markdown or text, other text as is, no binaries. */
import { NodeType, parse, type HTMLElement, type Node } from 'node-html-parser';
import { htmlToMarkdown } from './markdown.ts';

export type Format = 'markdown' | 'text' | 'raw';

const mediaType = (contentType: string) => (contentType.split(';')[0] ?? '').trim().toLowerCase();

const isHtml = (contentType: string) => ['text/html', 'application/xhtml+xml'].includes(mediaType(contentType));

/** Content types returned as text; the body of any other type is not downloaded. */
export function isTextual(contentType: string): boolean {
  const type = mediaType(contentType);
  return (
    type.startsWith('text/') ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    /^application\/(json|xml|javascript|ecmascript|x-javascript|yaml|x-yaml|toml|x-ndjson|x-sh|sql|graphql)$/.test(type)
  );
}

/** Without a Content-Type: NUL bytes mean binary; a leading tag means HTML. */
function sniff(body: Buffer): 'html' | 'text' | 'binary' {
  const head = body.subarray(0, 1024);
  if (head.includes(0)) return 'binary';
  return /^\s*<(!doctype html|html|head|body)\b/i.test(head.toString('latin1')) ? 'html' : 'text';
}

function decode(body: Buffer, contentType: string, html: boolean): string {
  let label = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  if (!label && html)
    label = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(body.subarray(0, 2048).toString('latin1'))?.[1];
  try {
    return new TextDecoder(label ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body); // unknown charset label
  }
}

export interface Rendered {
  title?: string;
  text: string;
}

/** The content as text, or undefined when it is binary (no Content-Type, and NUL bytes). */
export function render(body: Buffer, contentType: string, format: Format, url: URL): Rendered | undefined {
  const kind = contentType ? (isHtml(contentType) ? 'html' : 'text') : sniff(body);
  if (kind === 'binary') return undefined;
  const source = decode(body, contentType, kind === 'html');
  if (kind !== 'html' || format === 'raw') return { text: source };
  return htmlContent(source, url, format);
}

/** Elements that are never content. */
const NOISE = new Set(
  'script style noscript template iframe frame object embed canvas svg nav button input select textarea dialog'.split(
    ' ',
  ),
);

/** What one walk over the parsed page finds. (node-html-parser's selectors are quadratic on big pages.) */
interface Survey {
  title?: string;
  base?: string;
  body?: HTMLElement;
  main?: HTMLElement;
  articles: HTMLElement[];
  /** Never content, wherever it is. */
  noise: HTMLElement[];
  /** Site header, footer and asides: outside any article. */
  chrome: HTMLElement[];
  /** Elements with an href or src to make absolute. */
  links: HTMLElement[];
}

function survey(root: HTMLElement): Survey {
  const found: Survey = { articles: [], noise: [], chrome: [], links: [] };
  const stack: [HTMLElement, boolean][] = [[root, false]];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [element, inArticle] = next;
    const tag = element.rawTagName?.toLowerCase() ?? '';
    if (NOISE.has(tag) || element.getAttribute('role') === 'navigation') {
      found.noise.push(element);
      continue;
    }
    if (tag === 'title') found.title ??= element.text.trim();
    else if (tag === 'base') found.base ??= element.getAttribute('href');
    else if (tag === 'body') found.body ??= element;
    else if (tag === 'main' || element.getAttribute('role') === 'main') found.main ??= element;
    else if (tag === 'article') found.articles.push(element);
    else if (['header', 'footer', 'aside'].includes(tag) && !inArticle) found.chrome.push(element);
    else if (tag === 'a' || tag === 'img') found.links.push(element);
    const children = element.childNodes.filter((child) => child.nodeType === NodeType.ELEMENT_NODE);
    for (let i = children.length - 1; i >= 0; i--)
      stack.push([children[i] as HTMLElement, inArticle || tag === 'article']);
  }
  return found;
}

/** Removes elements in one pass per parent (HTMLElement.remove() is linear in the siblings). */
function removeAll(elements: HTMLElement[]): void {
  const doomed = new Set<Node>(elements);
  for (const parent of new Set(elements.map((element) => element.parentNode))) {
    parent.childNodes = parent.childNodes.filter((child) => !doomed.has(child));
  }
}

function htmlContent(html: string, url: URL, format: 'markdown' | 'text'): Rendered {
  // The doctype would be text to this parser. <pre> is parsed too (its default keeps it raw), for the code inside.
  const root = parse(html.replace(/^\s*<!doctype[^>]*>/i, ''), {
    comment: false,
    blockTextElements: { script: true, noscript: true, style: true },
  });
  const page = survey(root);
  const base = resolve(page.base, url) ?? url;
  // The page's own content when it says where that is; otherwise the body less its site chrome.
  const main = page.main ?? (page.articles.length === 1 ? page.articles[0] : undefined);
  removeAll(main ? page.noise : [...page.noise, ...page.chrome]);
  for (const element of page.links) {
    const attribute = element.rawTagName.toLowerCase() === 'a' ? 'href' : 'src';
    const value = element.getAttribute(attribute);
    if (value === undefined) continue;
    const absolute = value.startsWith('#') ? undefined : resolve(value, base);
    if (absolute && absolute.protocol !== 'javascript:') element.setAttribute(attribute, absolute.href);
    else element.removeAttribute(attribute);
  }
  const content = main ?? page.body ?? root;
  const text = format === 'markdown' ? htmlToMarkdown(content) : content.structuredText;
  return { title: page.title || undefined, text: text.trim() };
}

function resolve(href: string | undefined, base: URL): URL | undefined {
  if (href === undefined) return undefined;
  try {
    return new URL(href, base);
  } catch {
    return undefined;
  }
}
