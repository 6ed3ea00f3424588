/**
 * HTML to Markdown in one linear walk over a node-html-parser tree: headings, paragraphs, links,
 * emphasis, code (inline and fenced), nested lists, block quotes and GFM tables. Written here
 * because the converters on npm that we measured slow down quadratically on large pages, and a
 * page of a few megabytes must not hold the service's event loop for minutes.
 * Output is for reading (by people and models), so text is not Markdown-escaped.
 */
import { NodeType, type HTMLElement, type Node } from 'node-html-parser';

/** Elements whose content is a sequence of blocks. */
const CONTAINERS = new Set(
  'html body main article section div header footer aside nav figure figcaption address details summary dl dt dd form fieldset center li p'.split(
    ' ',
  ),
);
const HEADINGS = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
const BLOCKS = new Set([...CONTAINERS, ...HEADINGS, 'pre', 'ul', 'ol', 'blockquote', 'table', 'hr']);

export function htmlToMarkdown(root: HTMLElement): string {
  return blocks(root).join('\n');
}

const tagOf = (node: Node): string =>
  node.nodeType === NodeType.ELEMENT_NODE ? (node as HTMLElement).tagName.toLowerCase() : '';

function append(lines: string[], block: string[]): void {
  if (block.length === 0) return;
  if (lines.length > 0) lines.push('');
  for (const line of block) lines.push(line); // not push(...block): a long block would overflow the stack
}

/** The children of a container, as lines: inline runs become paragraphs, blocks separated by a blank line. */
function blocks(element: HTMLElement): string[] {
  const lines: string[] = [];
  let run = '';
  for (const child of element.childNodes) {
    const tag = tagOf(child);
    if (BLOCKS.has(tag)) {
      append(lines, paragraph(run));
      run = '';
      append(lines, block(child as HTMLElement, tag));
    } else {
      run += inline(child);
    }
  }
  append(lines, paragraph(run));
  return lines;
}

function block(element: HTMLElement, tag: string): string[] {
  if (HEADINGS.has(tag)) {
    const text = oneLine(inlineChildren(element));
    return text ? [`${'#'.repeat(Number(tag[1]))} ${text}`] : [];
  }
  switch (tag) {
    case 'hr':
      return ['---'];
    case 'pre':
      return fenced(element);
    case 'ul':
    case 'ol':
      return list(element, tag === 'ol');
    case 'blockquote':
      return blocks(element).map((line) => (line ? `> ${line}` : '>'));
    case 'table':
      return table(element);
    default:
      return blocks(element);
  }
}

/** Inline text to lines: one per <br>, spaces collapsed. */
function paragraph(run: string): string[] {
  return run
    .split('\n')
    .map((line) => line.replace(/ {2,}/g, ' ').trim())
    .filter(Boolean);
}

const oneLine = (text: string) => paragraph(text).join(' ');

function inlineChildren(element: HTMLElement): string {
  let text = '';
  for (const child of element.childNodes) text += inline(child);
  return text;
}

function inline(node: Node): string {
  if (node.nodeType === NodeType.TEXT_NODE) return node.text.replace(/\s+/g, ' ');
  if (node.nodeType !== NodeType.ELEMENT_NODE) return '';
  const element = node as HTMLElement;
  switch (tagOf(element)) {
    case 'br':
      return '\n';
    case 'a':
      return link(element);
    case 'img':
      return image(element);
    case 'strong':
    case 'b':
      return wrap('**', inlineChildren(element));
    case 'em':
    case 'i':
      return wrap('_', inlineChildren(element));
    case 's':
    case 'del':
    case 'strike':
      return wrap('~~', inlineChildren(element));
    case 'code':
    case 'kbd':
    case 'samp':
    case 'tt':
      return codeSpan(element.text);
    default:
      // A block inside inline content (a <div> in a <td>): its own line where lines are possible.
      return BLOCKS.has(tagOf(element)) ? `\n${inlineChildren(element)}\n` : inlineChildren(element);
  }
}

/** Emphasis around the text, the spaces at its edges kept outside the markers. */
function wrap(marker: string, text: string): string {
  const [, before = '', core = '', after = ''] = /^(\s*)([\s\S]*?)(\s*)$/.exec(text) ?? [];
  return core ? `${before}${marker}${core}${marker}${after}` : text;
}

const urlText = (url: string) => url.replace(/ /g, '%20').replace(/\(/g, '%28').replace(/\)/g, '%29');

function link(element: HTMLElement): string {
  const text = oneLine(inlineChildren(element));
  const href = element.getAttribute('href');
  if (!href || href.startsWith('#') || !text) return text;
  return `[${text}](${urlText(href)})`;
}

function image(element: HTMLElement): string {
  const src = element.getAttribute('src');
  const alt = oneLine(element.getAttribute('alt') ?? '');
  if (!src || src.startsWith('data:')) return alt;
  return `![${alt}](${urlText(src)})`;
}

/** Backticks one longer than the longest run inside, so the code may contain backticks. */
function fence(code: string, minimum: number): string {
  const longest = (code.match(/`+/g) ?? []).reduce((most, run) => Math.max(most, run.length), 0);
  return '`'.repeat(Math.max(minimum, longest + 1));
}

function codeSpan(code: string): string {
  const text = code.replace(/\s+/g, ' ');
  if (!text.trim()) return text;
  const ticks = fence(text, 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

function fenced(element: HTMLElement): string[] {
  const code = element.text.replace(/^\n/, '').replace(/\s+$/, '');
  const classes = element.querySelector('code')?.getAttribute('class') ?? element.getAttribute('class') ?? '';
  const language = /(?:^|\s)(?:language|lang)-([\w+#.-]+)/.exec(classes)?.[1] ?? '';
  const ticks = fence(code, 3);
  return [`${ticks}${language}`, ...code.split('\n'), ticks];
}

function list(element: HTMLElement, ordered: boolean): string[] {
  const lines: string[] = [];
  let number = Number(element.getAttribute('start') ?? 1) || 1;
  for (const item of element.childNodes) {
    if (tagOf(item) !== 'li') continue; // whitespace between items, stray tags
    const marker = ordered ? `${number++}. ` : '* ';
    const content = blocks(item as HTMLElement).filter(Boolean); // tight: no blank lines inside an item
    const indent = ' '.repeat(marker.length);
    lines.push(marker + (content[0] ?? '').trimEnd());
    for (const line of content.slice(1)) lines.push(indent + line);
  }
  return lines;
}

/** The table's own rows (not those of a table inside it), in order. */
function rows(table: HTMLElement): HTMLElement[] {
  const found: HTMLElement[] = [];
  for (const child of table.childNodes) {
    const tag = tagOf(child);
    if (tag === 'tr') found.push(child as HTMLElement);
    else if (['thead', 'tbody', 'tfoot'].includes(tag)) {
      for (const row of child.childNodes) if (tagOf(row) === 'tr') found.push(row as HTMLElement);
    }
  }
  return found;
}

/** A GFM table: the first row is the header; cells are one line each. */
function table(element: HTMLElement): string[] {
  const cells = rows(element)
    .map((row) =>
      row.childNodes
        .filter((cell) => ['td', 'th'].includes(tagOf(cell)))
        .map((cell) => oneLine(inlineChildren(cell as HTMLElement)).replace(/\|/g, '\\|')),
    )
    .filter((row) => row.length > 0);
  const width = cells.reduce((most, row) => Math.max(most, row.length), 0);
  if (width === 0) return [];
  const line = (row: string[]) =>
    `| ${Array.from({ length: width }, (_, i) => row[i] ?? '').join(' | ')} |`.replace(/ {2,}\|/g, ' |');
  const [header = [], ...body] = cells;
  return [line(header), line(Array<string>(width).fill('---')), ...body.map(line)];
}
