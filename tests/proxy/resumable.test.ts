/**
 * Resumable streams at the stdio proxy (MCP 2025-11-25, basic/transports, "Resumability and
 * Redelivery"; mcp-services/shared/event-store.ts, one store per session): a tool call's SSE stream
 * starts with a priming event carrying an id; a client that loses the stream mid-call gets the
 * rest (progress, logging, the result) with `Last-Event-ID`; another user presenting the session
 * and the id gets 404.
 */
import { post, rawSession, startTestProxy, type TestProxy } from './fixtures/harness.ts';
import { sseEvents, type SseEvent } from '../support/sse.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy();
});
afterAll(() => proxy.close());

test('a stream lost mid-call is resumed with Last-Event-ID, from its own session only', async () => {
  const session = await rawSession(proxy.url);
  const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
  await post(proxy.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers).then((r) => r.text());
  const abort = new AbortController();
  const call = await post(
    proxy.url,
    {
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { name: 'progress', arguments: { steps: 10 }, _meta: { progressToken: 'p' } },
    },
    headers,
    abort.signal,
  );
  const stream = sseEvents(call.body!);
  const priming = (await stream.next()).value as SseEvent;
  expect(priming.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(priming.data).toBe('');
  const first = (await stream.next()).value as SseEvent;
  expect(JSON.parse(first.data)).toMatchObject({ method: 'notifications/progress', params: { progress: 1 } });
  abort.abort();
  // The call goes on without the client: 10 steps of 20 ms.
  await new Promise((resolve) => setTimeout(resolve, 500));

  const resume = (user: string, signal?: AbortSignal) =>
    fetch(proxy.url, {
      headers: { accept: 'text/event-stream', 'x-user-id': user, 'last-event-id': first.id!, ...headers },
      signal,
    });
  const stolen = await resume('github:2');
  expect(stolen.status).toBe(404);
  await stolen.text();

  const done = new AbortController();
  const resumed = await resume('github:1', done.signal);
  expect(resumed.status).toBe(200);
  const missed: unknown[] = [];
  for await (const event of sseEvents(resumed.body!)) {
    const message = JSON.parse(event.data) as { id?: number };
    missed.push(message);
    if (message.id === 5) break;
  }
  done.abort();
  const progress = missed.filter((m) => (m as { method?: string }).method === 'notifications/progress');
  expect(progress.map((m) => (m as { params: { progress: number } }).params.progress)).toEqual([
    2, 3, 4, 5, 6, 7, 8, 9, 10,
  ]);
  expect(missed.at(-1)).toMatchObject({ id: 5, result: { content: [{ type: 'text', text: 'done in 10 steps' }] } });
});
