/**
 * The stdio proxy's bounds (issue 14, "bounded everything"; docs/operations.md, "Limits"): each
 * limit is answered with its status and a JSON-RPC error, logged once per limit and key
 * (contracts/limit-log.ts), and the session goes on once the pressure is gone.
 *   - requests a session has pending at its server (MCP_PROXY_MAX_PENDING_REQUESTS): 429;
 *   - an event stream its client does not read (MCP_PROXY_MAX_STREAM_BUFFER_BYTES): ended;
 *   - request headers over Node's 16 KiB: 431.
 */
import { request } from 'node:http';
import { loadConfig, ConfigError } from '../../mcp-services/proxy/src/config.ts';
import { modernRequest } from '../support/modern-request.ts';
import { post, POST_HEADERS, rawSession, startTestProxy, waitFor, type TestProxy } from './fixtures/harness.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy({
    maxPendingRequests: 2,
    requestTimeoutMs: 1_500,
    maxMessageBytes: 256 * 1024,
    maxStreamBufferBytes: 512 * 1024,
  });
});
afterAll(() => proxy.close());

const limitLines = (limit: string) =>
  proxy.logs.filter((l) => l.msg === 'limit reached: ' + limit && l.limit === limit);

async function openSession(): Promise<Record<string, string>> {
  const session = await rawSession(proxy.url);
  const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  await post(proxy.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers).then((r) => r.text());
  return headers;
}

const call = (id: number, name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

test('pending requests per session: 429 with the request id past the bound, logged once, served again once answered', async () => {
  const headers = await openSession();
  const aborts = [new AbortController(), new AbortController()];
  // Two calls the server never answers (until the proxy's 1.5 s request timeout).
  const hanging = await Promise.all(aborts.map((a, i) => post(proxy.url, call(10 + i, 'hang'), headers, a.signal)));
  for (const res of hanging) expect(res.status).toBe(200);

  for (let i = 0; i < 4; i++) {
    const refused = await post(proxy.url, call(20 + i, 'echo', { message: 'hi' }), headers);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { jsonrpc: string; id: number; error: { code: number; message: string } };
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 20 + i, error: { code: -32000 } });
    expect(body.error.message).toMatch(/Too many requests in progress: a session may have 2 unanswered/);
  }
  expect(limitLines('pending requests per session')).toHaveLength(1);
  expect(limitLines('pending requests per session')[0]).toMatchObject({ key: 'github:1', max: 2, status: 429 });

  // The hanging calls time out (their clients get a JSON-RPC error): the session takes requests again.
  await new Promise((resolve) => setTimeout(resolve, 1_700));
  const served = await post(proxy.url, call(30, 'echo', { message: 'again' }), headers);
  expect(served.status).toBe(200);
  expect(await served.text()).toContain('again');
  for (const a of aborts) a.abort();
}, 20_000);

test('2026-07-28: requests pending at the user’s child past the bound get 429 with their id, logged once', async () => {
  const user = { 'x-user-id': 'github:7' };
  const send = (name: string, id: number, signal?: AbortSignal) =>
    fetch(proxy.url, { ...modernRequest('tools/call', { name, arguments: {} }, { id, headers: user }), signal });
  expect((await send('whoami', 1)).status).toBe(200); // the child is up
  const abort = new AbortController();
  const hanging = [send('hang', 2, abort.signal), send('hang', 3, abort.signal)];
  hanging.forEach((h) => h.catch(() => undefined));
  let refused: Response | undefined;
  for (let i = 0; i < 50 && !refused; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await send('whoami', 100 + i);
    if (res.status === 429) refused = res;
    else await res.text();
  }
  expect(refused?.status).toBe(429);
  expect(refused!.headers.get('retry-after')).toBe('1');
  expect(await refused!.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
  expect((await send('whoami', 200)).status).toBe(429);
  expect(limitLines('pending requests per child')).toHaveLength(1);
  abort.abort();
}, 20_000);

test('an event stream its client does not read is ended past the buffer bound, logged once; the session goes on', async () => {
  const headers = await openSession();
  // 40 MiB of progress for a client that reads nothing: beyond the socket buffers and the bound.
  const body = JSON.stringify(call(40, 'flood', { count: 400, bytes: 100 * 1024 }, { progressToken: 'f' }));
  const url = new URL(proxy.url);
  const ended = await new Promise<number>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...POST_HEADERS, ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      res.pause(); // the client stops reading
      let bytes = 0;
      void waitFor(() => limitLines('stream buffer').length > 0, 15_000).then(() => {
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () => resolve(bytes));
        res.on('error', () => resolve(bytes));
        res.resume();
      }, reject);
    });
    req.end(body);
  });
  // It ended well short of the 40 MiB the server sent, without the result.
  expect(ended).toBeLessThan(30 * 1024 * 1024);
  expect(limitLines('stream buffer')).toHaveLength(1);
  expect(limitLines('stream buffer')[0]).toMatchObject({ key: 'github:1', maxBytes: 512 * 1024 });

  const served = await post(proxy.url, call(41, 'echo', { message: 'still here' }), headers);
  expect(served.status).toBe(200);
  expect(await served.text()).toContain('still here');
}, 30_000);

test('request headers over 16 KiB: 431 with a JSON-RPC error, logged once per address', async () => {
  const big = 'x'.repeat(20 * 1024);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(proxy.url, { method: 'POST', headers: { 'x-big': big }, body: '{}' });
    expect(res.status).toBe(431);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 }, id: null });
  }
  expect(limitLines('request header size')).toHaveLength(1);
  // The proxy is alive and well.
  expect((await fetch(proxy.url.replace('/mcp', '/health'))).status).toBe(200);
});

test('a stream buffer smaller than one message is a configuration error', () => {
  const env = { MCP_PROXY_MAX_MESSAGE_BYTES: '1048576', MCP_PROXY_MAX_STREAM_BUFFER_BYTES: '1024' };
  expect(() => loadConfig(['--', 'node', 'x.js'], env)).toThrow(ConfigError);
  expect(() => loadConfig(['--', 'node', 'x.js'], env)).toThrow(/MCP_PROXY_MAX_STREAM_BUFFER_BYTES \(1024\)/);
  expect(loadConfig(['--', 'node', 'x.js'], {}).maxPendingRequests).toBe(64);
});
