/**
 * The fetch tool, shaped like the reference Python mcp-server-fetch: fetch an http(s) URL and
 * return web pages as Markdown (or text, or raw), in parts of max_length characters that the
 * caller walks through with start_index.
 */
import type { BlockList } from 'node:net';
import { McpServer } from '@modelcontextprotocol/server';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { parseAllowList, specialAddressReason } from './addresses.ts';
import { isTextual, render } from './content.ts';
import { checkUrl, FetchError, httpGet, systemResolver, type GetOptions, type Resolver } from './http-get.ts';

export interface FetchServiceOptions {
  /** Connect to any address, private ones included (MCP_FETCH_ALLOW_PRIVATE). Dangerous. */
  allowPrivate: boolean;
  /** Special addresses allowed all the same (MCP_FETCH_ALLOW_ADDRESSES). */
  allowAddresses?: BlockList;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
  /** Name resolution; tests inject one. */
  resolve?: Resolver;
}

export const USER_AGENT = 'MCP-OAuth-Gateway-Fetch/0.1';
export const DEFAULTS = { maxBytes: 5 * 1024 * 1024, timeoutSeconds: 15, maxRedirects: 5, maxLength: 5000 };

/** Reads the MCP_FETCH_* settings; throws with the setting's name when one is malformed. */
export function fetchOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): FetchServiceOptions {
  const positive = (name: string, fallback: number): number => {
    const text = env[name]?.trim();
    if (!text) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not "${text}"`);
    return value;
  };
  const allowPrivate = (env.MCP_FETCH_ALLOW_PRIVATE ?? '').trim().toLowerCase();
  if (!['', 'true', 'false'].includes(allowPrivate)) {
    throw new Error(`MCP_FETCH_ALLOW_PRIVATE must be true or false, not "${env.MCP_FETCH_ALLOW_PRIVATE}"`);
  }
  return {
    allowPrivate: allowPrivate === 'true',
    allowAddresses: env.MCP_FETCH_ALLOW_ADDRESSES ? parseAllowList(env.MCP_FETCH_ALLOW_ADDRESSES) : undefined,
    maxBytes: Math.floor(positive('MCP_FETCH_MAX_BYTES', DEFAULTS.maxBytes)),
    timeoutMs: positive('MCP_FETCH_TIMEOUT', DEFAULTS.timeoutSeconds) * 1000,
  };
}

const text = (message: string, isError = false): CallToolResult => ({
  content: [{ type: 'text', text: message }],
  ...(isError ? { isError } : {}),
});

export function createFetchServer(options: FetchServiceOptions): McpServer {
  const get: GetOptions = {
    maxBytes: options.maxBytes,
    timeoutMs: options.timeoutMs,
    maxRedirects: options.maxRedirects ?? DEFAULTS.maxRedirects,
    userAgent: USER_AGENT,
    resolve: options.resolve ?? systemResolver,
    refuse: (address) => {
      if (options.allowPrivate) return undefined;
      if (options.allowAddresses?.check(address, address.includes(':') ? 'ipv6' : 'ipv4')) return undefined;
      return specialAddressReason(address);
    },
  };
  const server = new McpServer({ name: 'fetch', version: '0.1.0' });
  server.registerTool(
    'fetch',
    {
      description:
        'Fetches a URL from the internet and returns its content: web pages as Markdown (or plain text, or raw ' +
        'HTML), plain text and JSON as they are. Long content comes in parts of max_length characters; the ' +
        'result says which start_index gives the next part. Only public http(s) addresses are fetched.',
      inputSchema: {
        url: z.string().describe('The http or https URL to fetch.'),
        format: z
          .enum(['markdown', 'text', 'raw'])
          .default('markdown')
          .describe('For HTML pages: markdown (default), text (no markup) or raw (the HTML itself).'),
        max_length: z
          .number()
          .int()
          .positive()
          .max(1_000_000)
          .default(DEFAULTS.maxLength)
          .describe('How many characters to return at most.'),
        start_index: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('Where to start in the content: the previous part said where the next one starts.'),
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async ({ url, format, max_length, start_index }) => {
      try {
        const requested = checkUrl(url.trim());
        const page = await httpGet(requested, get);
        const type = (page.contentType.split(';')[0] ?? '').trim();
        const binary = page.contentType !== '' && !isTextual(page.contentType);
        const rendered = binary ? undefined : render(page.body, page.contentType, format, page.url);
        if (!rendered) {
          const size = page.contentLength === undefined ? '' : `, ${page.contentLength} bytes`;
          return text(
            `${page.url.href} is ${type || 'binary'}${size}: the fetch tool returns text content only.`,
            true,
          );
        }
        return paginate(rendered.text, start_index, max_length, [
          `Contents of ${page.url.href}${page.url.href === requested.href ? '' : ` (redirected from ${requested.href})`}:`,
          ...(rendered.title ? [`Title: ${rendered.title}`] : []),
          ...(page.truncated
            ? [`Note: the page is larger than ${get.maxBytes} bytes; only its first ${get.maxBytes} bytes were read.`]
            : []),
        ]);
      } catch (error) {
        return text(error instanceof FetchError ? error.message : `Fetch failed: ${(error as Error).message}`, true);
      }
    },
  );
  return server;
}

function paginate(content: string, start: number, maxLength: number, header: string[]): CallToolResult {
  if (start > 0 && start >= content.length) {
    return text(`start_index ${start} is past the end: the content has ${content.length} characters.`, true);
  }
  let end = Math.min(start + maxLength, content.length);
  // Never split a surrogate pair (an emoji) between two parts.
  if (end < content.length && end - start > 1 && /[\uD800-\uDBFF]/.test(content.charAt(end - 1))) end--;
  const parts = [...header, '', content.slice(start, end) || '(empty)'];
  if (end < content.length) {
    parts.push(
      '',
      `[Content truncated: characters ${start}-${end} of ${content.length}. ` +
        `Call fetch with start_index=${end} to get more.]`,
    );
  }
  return text(parts.join('\n'));
}
