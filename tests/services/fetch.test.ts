/**
 * The fetch service in-process, over Streamable HTTP with the official SDK client. Pages come
 * from a local server, so most services here are told to allow loopback; the refusal tests use
 * the default policy and check that the page server never saw a request.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseAllowList, specialAddressReason } from '../../mcp-services/fetch/src/addresses.ts';
import { render } from '../../mcp-services/fetch/src/content.ts';
import { httpGet } from '../../mcp-services/fetch/src/http-get.ts';
import {
  createFetchServer,
  fetchOptionsFromEnv,
  USER_AGENT,
  type FetchServiceOptions,
} from '../../mcp-services/fetch/src/server.ts';
import { createServiceHandler } from '../../mcp-services/shared/http-service.ts';

const HTML = `<!doctype html><html><head><title>Test page</title><style>body { color: red }</style>
<script>alert('script')</script></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Hello</h1><p>Some <b>bold</b> text and <a href="/rel/link">a link</a>.</p>
<ul><li>one</li><li>two</li></ul>
<pre><code class="language-js">const a = 1;</code></pre>
<table><thead><tr><th>Name</th><th>Age</th></tr></thead><tbody><tr><td>Ann</td><td>30</td></tr></tbody></table>
<footer>Site footer</footer><script>alert('again')</script></body></html>`;

const LONG = Array.from({ length: 1200 }, (_, i) => String(i % 10).repeat(10)).join(''); // 12 000 characters

const pages = {
  requests: [] as IncomingMessage[],
  server: undefined as Server | undefined,
  base: '',
};

function route(req: IncomingMessage, res: ServerResponse): void {
  pages.requests.push(req);
  const url = new URL(req.url ?? '/', 'http://x');
  const redirect = /^\/redirect\/(\d+)$/.exec(url.pathname);
  if (redirect) {
    const left = Number(redirect[1]);
    res.writeHead(302, { location: left > 1 ? `/redirect/${left - 1}` : '/page.html' }).end();
    return;
  }
  switch (url.pathname) {
    case '/page.html':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HTML);
      return;
    case '/long.txt':
      res.writeHead(200, { 'content-type': 'text/plain' }).end(LONG);
      return;
    case '/data.json':
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"answer":42}');
      return;
    case '/image.png':
      res
        .writeHead(200, { 'content-type': 'image/png', 'content-length': 7 })
        .end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]));
      return;
    case '/latin1.txt':
      res.writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' }).end(Buffer.from('caf\xe9', 'latin1'));
      return;
    case '/bomb.txt': // 10 MB of text in a few kilobytes of gzip
      res
        .writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' })
        .end(gzipSync(Buffer.alloc(10_000_000, 'a')));
      return;
    case '/headers':
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
      return;
    case '/to': // a redirect wherever ?url= says
      res.writeHead(302, { location: url.searchParams.get('url') ?? '/' }).end();
      return;
    case '/hang': // never answers
      return;
    case '/hang-body': // answers, then never finishes the body
      res.writeHead(200, { 'content-type': 'text/plain' }).write('the beginning');
      return;
    default:
      res.writeHead(404).end('not here');
  }
}

const services: { server: Server; client: Client }[] = [];

/** The fetch service on a free port, and an SDK client connected to it. */
async function start(options: Partial<FetchServiceOptions>, headers?: Record<string, string>): Promise<Client> {
  const create = () => createFetchServer({ allowPrivate: false, maxBytes: 1_000_000, timeoutMs: 5000, ...options });
  const server = createServer(createServiceHandler({ name: 'fetch', stateful: false, create }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = new Client({ name: 'fetch-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers } }),
  );
  services.push({ server, client });
  return client;
}

async function fetchTool(client: Client, args: Record<string, unknown>): Promise<{ text: string; isError: boolean }> {
  const result = await client.callTool({ name: 'fetch', arguments: args });
  const content = result.content as { type: string; text: string }[];
  return { text: content.map((c) => c.text).join('\n'), isError: result.isError === true };
}

/** The content of a result: what follows the header, less the pagination hint. */
const body = (text: string) => text.slice(text.indexOf('\n\n') + 2).replace(/\n\n\[Content truncated[^\]]*\]$/, '');

let open: Client; // loopback allowed, as for a development machine
let quick: Client; // loopback allowed, 1000 bytes, 300 ms
let guarded: Client; // the default policy, with names resolved by a test resolver
let oneAllowed: Client; // the default policy except 127.0.0.1 (MCP_FETCH_ALLOW_ADDRESSES)

const testResolver = async (hostname: string) => {
  const names: Record<string, { address: string; family: number }[]> = {
    'rebind.test': [{ address: '127.0.0.1', family: 4 }],
    'mixed.test': [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ],
    'metadata.test': [{ address: 'fd00:ec2::254', family: 6 }],
    'mapped.test': [{ address: '::ffff:169.254.169.254', family: 6 }],
  };
  const found = names[hostname];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return found;
};

beforeAll(async () => {
  pages.server = createServer(route);
  pages.server.listen(0, '127.0.0.1');
  await once(pages.server, 'listening');
  pages.base = `http://127.0.0.1:${(pages.server.address() as AddressInfo).port}`;
  open = await start({ allowPrivate: true });
  quick = await start({ allowPrivate: true, maxBytes: 1000, timeoutMs: 300 });
  guarded = await start({ resolve: testResolver });
  oneAllowed = await start({ allowAddresses: parseAllowList('127.0.0.1'), resolve: testResolver });
});

afterAll(async () => {
  for (const { client, server } of services) {
    await client.close();
    server.closeAllConnections();
    server.close();
  }
  pages.server?.closeAllConnections();
  pages.server?.close();
});

beforeEach(() => {
  pages.requests = [];
});

describe('fetching', () => {
  test('HTML becomes Markdown: headings, links made absolute, lists, code, tables; no script, style or nav', async () => {
    const { text, isError } = await fetchTool(open, { url: `${pages.base}/page.html` });
    expect(isError).toBe(false);
    expect(text).toMatch(new RegExp(`^Contents of ${pages.base}/page.html:\nTitle: Test page\n`));
    expect(text).toContain('# Hello');
    expect(text).toContain('**bold**');
    expect(text).toContain(`[a link](${pages.base}/rel/link)`);
    expect(text).toMatch(/\* one\n\* two/);
    expect(text).toContain('```js\nconst a = 1;\n```');
    expect(text).toMatch(/\| Name \| Age \|\n\| -+ \| -+ \|\n\| Ann +\| 30 +\|/);
    for (const noise of ['alert', 'color: red', 'Home', 'About', 'Site footer']) expect(text).not.toContain(noise);
  });

  test('format text drops the markup; format raw keeps the HTML', async () => {
    const plain = await fetchTool(open, { url: `${pages.base}/page.html`, format: 'text' });
    expect(plain.text).toContain('Hello');
    expect(plain.text).toContain('Some bold text and a link.');
    expect(plain.text).not.toMatch(/\*\*|# Hello|\]\(/);
    const raw = await fetchTool(open, { url: `${pages.base}/page.html`, format: 'raw', max_length: 100_000 });
    expect(body(raw.text)).toBe(HTML);
  });

  test('JSON and text come as they are, in their charset', async () => {
    expect(body((await fetchTool(open, { url: `${pages.base}/data.json` })).text)).toBe('{"answer":42}');
    expect(body((await fetchTool(open, { url: `${pages.base}/latin1.txt` })).text)).toBe('café');
  });

  test('long content comes in parts that start_index walks through', async () => {
    const url = `${pages.base}/long.txt`;
    const first = await fetchTool(open, { url, max_length: 5000 });
    expect(first.text).toContain('Call fetch with start_index=5000 to get more.');
    const second = await fetchTool(open, { url, max_length: 5000, start_index: 5000 });
    expect(second.text).toContain('start_index=10000');
    const last = await fetchTool(open, { url, max_length: 5000, start_index: 10000 });
    expect(last.text).not.toContain('Content truncated');
    expect(body(first.text) + body(second.text) + body(last.text)).toBe(LONG);
    const past = await fetchTool(open, { url, start_index: 12000 });
    expect(past).toEqual({ isError: true, text: expect.stringContaining('past the end') });
  });

  test('the default part is 5000 characters', async () => {
    expect(body((await fetchTool(open, { url: `${pages.base}/long.txt` })).text)).toHaveLength(5000);
  });

  test('reading stops at the byte limit, and the result says so', async () => {
    const { text, isError } = await fetchTool(quick, { url: `${pages.base}/long.txt`, max_length: 100_000 });
    expect(isError).toBe(false);
    expect(text).toContain('the page is larger than 1000 bytes; only its first 1000 bytes were read');
    expect(body(text)).toBe(LONG.slice(0, 1000));
  });

  test('the byte limit counts decompressed bytes (a gzip bomb stops there)', async () => {
    const { text } = await fetchTool(quick, { url: `${pages.base}/bomb.txt` });
    expect(text).toContain('only its first 1000 bytes were read');
    expect(body(text)).toBe('a'.repeat(1000));
  });

  test.each(['/hang', '/hang-body'])('a server that never finishes (%s) times out', async (path) => {
    const result = await fetchTool(quick, { url: `${pages.base}${path}` });
    expect(result).toEqual({ isError: true, text: 'Timed out after 0.3 s.' });
  });

  test('five redirects are followed, a sixth is not', async () => {
    const five = await fetchTool(open, { url: `${pages.base}/redirect/5` });
    expect(five.isError).toBe(false);
    expect(five.text).toContain(`Contents of ${pages.base}/page.html (redirected from ${pages.base}/redirect/5):`);
    const six = await fetchTool(open, { url: `${pages.base}/redirect/6` });
    expect(six).toEqual({ isError: true, text: 'Too many redirects (more than 5).' });
    expect(pages.requests).toHaveLength(6 + 6);
  });

  test('binary content is described, not returned', async () => {
    const result = await fetchTool(open, { url: `${pages.base}/image.png` });
    expect(result).toEqual({ isError: true, text: expect.stringMatching(/image\/png, 7 bytes: .*text content only/) });
  });

  test('an HTTP error status is a tool error', async () => {
    expect(await fetchTool(open, { url: `${pages.base}/missing` })).toEqual({
      isError: true,
      text: `${pages.base}/missing answered HTTP 404 Not Found`,
    });
  });

  test('only GET, with our User-Agent and none of the caller’s identity headers', async () => {
    const client = await start({ allowPrivate: true }, { 'x-user-id': 'github:1', 'x-user-email': 'ann@example.com' });
    const { text } = await fetchTool(client, { url: `${pages.base}/headers` });
    const received = JSON.parse(body(text)) as Record<string, string>;
    expect(received['user-agent']).toBe(USER_AGENT);
    expect(Object.keys(received).filter((h) => /^(x-|authorization|cookie|mcp-)/.test(h))).toEqual([]);
    expect(pages.requests.map((r) => r.method)).toEqual(['GET']);
  });

  test.each(['file:///etc/passwd', 'ftp://example.com/file', 'javascript:alert(1)', 'data:text/plain,hi'])(
    'the scheme of %s is refused',
    async (url) => {
      expect(await fetchTool(open, { url })).toEqual({
        isError: true,
        text: expect.stringContaining('Only http and https URLs can be fetched'),
      });
    },
  );

  test('not a URL, or a URL with credentials, is a tool error', async () => {
    expect(await fetchTool(open, { url: 'not a url' })).toEqual({ isError: true, text: 'Not a valid URL: not a url' });
    const credentials = await fetchTool(open, { url: `http://user:secret@127.0.0.1/` });
    expect(credentials).toEqual({ isError: true, text: expect.stringContaining('credentials') });
  });
});

describe('refused addresses (default policy)', () => {
  const port = () => new URL(pages.base).port;
  test.each([
    ['http://127.0.0.1:PORT/page.html', 'loopback'],
    ['http://10.0.0.1/', 'private address (RFC 1918)'],
    ['http://192.168.1.1/', 'private address (RFC 1918)'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[::1]:PORT/page.html', 'loopback'],
    ['http://[::ffff:127.0.0.1]:PORT/page.html', 'loopback'],
    ['http://[fd00::1]/', 'unique-local'],
    ['http://0.0.0.0:PORT/', 'this network'],
    ['http://2130706433:PORT/page.html', 'loopback'], // 127.0.0.1 written as a number
    ['http://rebind.test:PORT/page.html', 'rebind.test (127.0.0.1) is a loopback'],
    ['http://mixed.test/', 'mixed.test (10.0.0.5) is a private'],
    ['http://metadata.test/', 'unique-local'],
    ['http://mapped.test/', 'link-local'],
  ])('%s', async (url, reason) => {
    const result = await fetchTool(guarded, { url: url.replace('PORT', port()) });
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/^Refused: /);
    expect(result.text).toContain(reason);
    expect(pages.requests).toHaveLength(0);
  });

  test('localhost through the system resolver is refused too', async () => {
    const client = await start({});
    const result = await fetchTool(client, { url: `http://localhost:${port()}/page.html` });
    expect(result).toEqual({ isError: true, text: expect.stringMatching(/^Refused: localhost \(.*\) is .*loopback/) });
    expect(pages.requests).toHaveLength(0);
  });

  test('an allowed address is fetched (MCP_FETCH_ALLOW_ADDRESSES)', async () => {
    const result = await fetchTool(oneAllowed, { url: `${pages.base}/page.html` });
    expect(result.isError).toBe(false);
    expect(result.text).toContain('# Hello');
  });

  test.each([
    ['http://127.0.0.2:PORT/page.html', 'Refused: 127.0.0.2 is a loopback'],
    ['http://10.0.0.1/', 'Refused: 10.0.0.1 is a private'],
    ['http://[::1]:PORT/', 'Refused: ::1 is the loopback'],
    ['http://mixed.test/', 'Refused: mixed.test (10.0.0.5)'],
    ['file:///etc/passwd', 'Only http and https URLs can be fetched, not file:'],
  ])('a redirect from an allowed address to %s is refused', async (target, message) => {
    const url = `${pages.base}/to?url=${encodeURIComponent(target.replace('PORT', port()))}`;
    const result = await fetchTool(oneAllowed, { url });
    expect(result).toEqual({ isError: true, text: expect.stringContaining(message) });
    expect(pages.requests.map((r) => r.url)).toEqual([new URL(url).pathname + new URL(url).search]);
  });
});

test('the connected peer address is checked again (a backstop behind the lookup)', async () => {
  let checks = 0;
  const options = {
    maxBytes: 1000,
    timeoutMs: 2000,
    maxRedirects: 0,
    userAgent: USER_AGENT,
    resolve: testResolver,
    // Passes the lookup's check, refuses the connected socket's.
    refuse: (address: string) => (checks++ === 0 ? undefined : `${address}, checked after connecting`),
  };
  const url = new URL(`http://rebind.test:${new URL(pages.base).port}/page.html`);
  await expect(httpGet(url, options)).rejects.toThrow('Refused: rebind.test (127.0.0.1) is 127.0.0.1, checked after');
  expect(checks).toBe(2);
});

describe('HTML to Markdown', () => {
  const markdown = (html: string) =>
    render(Buffer.from(html), 'text/html', 'markdown', new URL('http://example.com/dir/page'))?.text;

  test('blocks, nesting and escapes', () => {
    const html = `<html><head><base href="/base/"></head><body><header>Site</header>
      <h2>Art &amp; title</h2><p>Text with <code>a\`b</code> and <em> spaced </em>words.<br>Second&nbsp;line</p>
      <blockquote><p>Quoted</p><p>more</p></blockquote>
      <ol start="3"><li>three<ul><li>nested</li></ul></li><li>four</li></ol>
      <pre class="lang-py">x = 1
    y = 2</pre><hr><img src="i.png" alt="Pic"> <a href="#top">Top</a> <a href="javascript:void(0)">JS</a>
      <table><tbody><tr><td>a|b</td><td>c</td></tr><tr><td>d</td></tr></tbody></table><aside>Ads</aside></body></html>`;
    expect(markdown(html)).toBe(
      [
        '## Art & title',
        '',
        'Text with ``a`b`` and _spaced_ words.',
        'Second line',
        '',
        '> Quoted',
        '>',
        '> more',
        '',
        '3. three',
        '   * nested',
        '4. four',
        '',
        '```py',
        'x = 1',
        '    y = 2',
        '```',
        '',
        '---',
        '',
        '![Pic](http://example.com/base/i.png) Top JS',
        '',
        '| a\\|b | c |',
        '| --- | --- |',
        '| d | |',
      ].join('\n'),
    );
  });

  test('the main element, when there is one, is the content', () => {
    const html = '<body><div>Sidebar</div><main><h1>Main</h1><footer>Article footer</footer></main></body>';
    expect(markdown(html)).toBe('# Main\n\nArticle footer');
  });

  test('a page without a Content-Type is sniffed: HTML, text, or binary (refused)', () => {
    const url = new URL('http://example.com/');
    expect(render(Buffer.from('<!DOCTYPE html><h1>Hi</h1>'), '', 'markdown', url)?.text).toBe('# Hi');
    expect(render(Buffer.from('plain *text*'), '', 'markdown', url)?.text).toBe('plain *text*');
    expect(render(Buffer.from([0x89, 0x50, 0, 1]), '', 'markdown', url)).toBeUndefined();
  });
});

describe('address policy', () => {
  test.each([
    ['8.8.8.8', undefined],
    ['1.1.1.1', undefined],
    ['2606:4700:4700::1111', undefined],
    ['::ffff:8.8.8.8', undefined],
    ['64:ff9b::8.8.8.8', undefined],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['0.0.0.0', 'this network'],
    ['10.255.0.1', 'RFC 1918'],
    ['172.16.0.1', 'RFC 1918'],
    ['172.31.255.255', 'RFC 1918'],
    ['192.168.0.1', 'RFC 1918'],
    ['100.64.0.1', 'RFC 6598'],
    ['100.127.255.255', 'RFC 6598'],
    ['169.254.169.254', 'link-local'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'unique-local'],
    ['fdff:ffff::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:10.0.0.1', 'RFC 1918'],
    ['::ffff:a00:1', 'RFC 1918'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['fe80::1%eth0', 'not a plain IPv6 address'],
    ['example.com', 'not an IP address'],
  ])('%s', (address, reason) => {
    const found = specialAddressReason(address);
    if (reason === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(reason);
  });

  test('the next address after each private range is public', () => {
    for (const address of ['11.0.0.0', '172.32.0.0', '172.15.255.255', '192.169.0.0', '100.128.0.0', '9.255.255.255']) {
      expect(specialAddressReason(address)).toBeUndefined();
    }
  });
});

describe('settings', () => {
  test('defaults', () => {
    const options = fetchOptionsFromEnv({});
    expect(options).toEqual({
      allowPrivate: false,
      allowAddresses: undefined,
      maxBytes: 5 * 1024 * 1024,
      timeoutMs: 15_000,
    });
  });

  test('values', () => {
    const options = fetchOptionsFromEnv({
      MCP_FETCH_ALLOW_PRIVATE: 'TRUE',
      MCP_FETCH_MAX_BYTES: '1000',
      MCP_FETCH_TIMEOUT: '2.5',
      MCP_FETCH_ALLOW_ADDRESSES: '10.1.2.3, 192.168.0.0/16,fd00::/8',
    });
    expect(options).toMatchObject({ allowPrivate: true, maxBytes: 1000, timeoutMs: 2500 });
    expect(options.allowAddresses?.check('192.168.44.1')).toBe(true);
    expect(options.allowAddresses?.check('10.1.2.3')).toBe(true);
    expect(options.allowAddresses?.check('10.1.2.4')).toBe(false);
    expect(options.allowAddresses?.check('fd12::1', 'ipv6')).toBe(true);
  });

  test.each([
    [{ MCP_FETCH_ALLOW_PRIVATE: 'yes' }, 'MCP_FETCH_ALLOW_PRIVATE'],
    [{ MCP_FETCH_MAX_BYTES: '-1' }, 'MCP_FETCH_MAX_BYTES'],
    [{ MCP_FETCH_TIMEOUT: '15s' }, 'MCP_FETCH_TIMEOUT'],
    [{ MCP_FETCH_ALLOW_ADDRESSES: '10.0.0.0/33' }, 'MCP_FETCH_ALLOW_ADDRESSES'],
    [{ MCP_FETCH_ALLOW_ADDRESSES: 'intranet.local' }, 'MCP_FETCH_ALLOW_ADDRESSES'],
  ])('%j is refused', (env, name) => expect(() => fetchOptionsFromEnv(env)).toThrow(name));
});
