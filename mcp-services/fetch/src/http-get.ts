/**
 * One guarded HTTP GET with redirects. Every connection, redirect hops included, goes to an
 * address the policy accepts: a hostname is resolved once by our own `lookup`, which refuses
 * special addresses and hands net.connect the very addresses it checked (no second resolution
 * for DNS rebinding to slip into); IP literals, which net.connect never looks up, are checked
 * before connecting; and the connected socket's peer address is checked again as a backstop.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { isTextual } from './content.ts';

/** A message for the caller: the tool answers with it as an error. */
export class FetchError extends Error {}

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, order: 'verbatim' });

export interface GetOptions {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  /** Why an address must not be connected to, or undefined when it may. */
  refuse: (address: string) => string | undefined;
  resolve: Resolver;
}

export interface Fetched {
  /** The URL after redirects. */
  url: URL;
  contentType: string;
  /** Empty when the content type is not text (the body is not downloaded). */
  body: Buffer;
  /** The body went past maxBytes and was cut there. */
  truncated: boolean;
  /** Declared by the server, when it did. */
  contentLength?: number;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Only http and https, and no credentials in the URL. Throws FetchError. */
export function checkUrl(text: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new FetchError(`Not a valid URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError(`Only http and https URLs can be fetched, not ${url.protocol.slice(0, -1)}: (${url.href})`);
  }
  if (url.username || url.password) throw new FetchError('URLs with credentials (user:password@) are not fetched.');
  return url;
}

export async function httpGet(start: URL, options: GetOptions): Promise<Fetched> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = start;
  try {
    for (let hop = 0; ; hop++) {
      const res = await request(url, options, signal);
      const location = res.headers.location;
      if (REDIRECT_STATUSES.has(res.statusCode ?? 0) && location) {
        res.destroy();
        if (hop >= options.maxRedirects)
          throw new FetchError(`Too many redirects (more than ${options.maxRedirects}).`);
        url = checkUrl(location, url);
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        res.destroy();
        throw new FetchError(`${url.href} answered HTTP ${status} ${res.statusMessage ?? ''}`.trim());
      }
      const contentType = res.headers['content-type'] ?? '';
      const declared = Number(res.headers['content-length']);
      const contentLength = Number.isFinite(declared) && res.headers['content-length'] ? declared : undefined;
      if (contentType && !isTextual(contentType)) {
        res.destroy();
        return { url, contentType, body: Buffer.alloc(0), truncated: false, contentLength };
      }
      const { body, truncated } = await readBody(decoded(res), options.maxBytes);
      return { url, contentType, body, truncated, contentLength };
    }
  } catch (error) {
    if (signal.aborted) throw new FetchError(`Timed out after ${options.timeoutMs / 1000} s.`);
    throw explain(error, url);
  }
}

function request(url: URL, options: GetOptions, signal: AbortSignal): Promise<http.IncomingMessage> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(hostname)) refuseAddress(options, hostname, hostname);
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        hostname,
        port: url.port || undefined,
        path: url.pathname + url.search,
        method: 'GET',
        // Built from scratch: nothing of the caller's request (identity headers, tokens) goes onward.
        headers: {
          'user-agent': options.userAgent,
          accept: 'text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.5',
          'accept-encoding': 'gzip, deflate, br',
        },
        agent: false,
        lookup: guardedLookup(options),
        signal,
      },
      resolve,
    );
    req.on('error', reject);
    req.on('socket', (socket: Socket) =>
      socket.once('connect', () => {
        try {
          refuseAddress(options, hostname, socket.remoteAddress ?? '');
        } catch (error) {
          req.destroy(error as Error);
        }
      }),
    );
    req.end();
  });
}

function refuseAddress(options: GetOptions, hostname: string, address: string): void {
  const why = options.refuse(address);
  if (why === undefined) return;
  const target = hostname === address ? address : `${hostname} (${address})`;
  throw new FetchError(`Refused: ${target} is ${why}; only public addresses are fetched.`);
}

/** net.connect's `lookup`: resolve once, refuse if any address is special, connect to exactly those. */
function guardedLookup(options: GetOptions) {
  return (
    hostname: string,
    lookupOptions: LookupOptions,
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    options.resolve(hostname).then(
      (all) => {
        const addresses = all.filter((a) => !lookupOptions.family || a.family === lookupOptions.family);
        const first = addresses[0];
        if (!first) return callback(new FetchError(`${hostname} has no address.`), '');
        try {
          for (const { address } of addresses) refuseAddress(options, hostname, address);
        } catch (error) {
          return callback(error as Error, '');
        }
        if (lookupOptions.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: Error) => callback(error, ''),
    );
  };
}

function decoded(res: http.IncomingMessage): Readable {
  const encoding = (res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (decoder) return pipeline(res, decoder, () => {});
  if (encoding === 'identity' || encoding === '') return res;
  res.destroy();
  throw new FetchError(`Unsupported content encoding: ${encoding}`);
}

/** Reads at most maxBytes (after decompression, so a compression bomb stops there too). */
async function readBody(stream: Readable, maxBytes: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (size + chunk.length > maxBytes) {
      chunks.push(chunk.subarray(0, maxBytes - size));
      stream.destroy();
      return { body: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), truncated: false };
}

function explain(error: unknown, url: URL): FetchError {
  if (error instanceof FetchError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENOTFOUND: `Could not resolve ${url.hostname}.`,
    EAI_AGAIN: `Could not resolve ${url.hostname} (temporary DNS failure).`,
    ECONNREFUSED: 'Connection refused.',
    ECONNRESET: 'The connection was reset.',
    EHOSTUNREACH: 'Host unreachable.',
    ENETUNREACH: 'Network unreachable.',
    Z_DATA_ERROR: 'The response could not be decompressed.',
  };
  const message = (code && known[code]) ?? `Fetch failed: ${(error as Error).message ?? String(error)}`;
  return new FetchError(message);
}
