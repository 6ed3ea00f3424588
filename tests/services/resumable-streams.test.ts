/**
 * Resumable streams (MCP 2025-11-25, basic/transports, "Resumability and Redelivery"), at a native
 * stateful service (mcp-services/shared/http-service.ts with shared/event-store.ts; the stdio proxy's
 * sessions use the same store): each SSE stream starts with a priming event that carries an event
 * id, and a client that lost a stream mid-call gets what it missed with `Last-Event-ID`, from its
 * own session only. And the store's bounds.
 */
import { IDENTITY } from '../../contracts/headers.ts';
import { SessionEventStore } from '../../mcp-services/shared/event-store.ts';
import { serveEchoStateful, type serveService } from '../support/service-handler.ts';
import { sseEvents as events, type SseEvent } from '../support/sse.ts';

let service: Awaited<ReturnType<typeof serveService>>;
let url: string;

beforeAll(async () => {
  service = await serveEchoStateful();
  url = service.url.href;
});
afterAll(() => service.close());

const headers = (user: string, session?: string, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
  [IDENTITY.id]: user,
  ...(session ? { 'mcp-session-id': session } : {}),
  ...extra,
});

async function open(user: string): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    headers: headers(user),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'resume', version: '1' } },
    }),
  });
  await res.text();
  const session = res.headers.get('mcp-session-id')!;
  await fetch(url, {
    method: 'POST',
    headers: headers(user, session),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  }).then((r) => r.text());
  return session;
}

test('a stream lost mid-call is resumed with Last-Event-ID: the priming id, then what was missed', async () => {
  const session = await open('github:1');
  const abort = new AbortController();
  const call = await fetch(url, {
    method: 'POST',
    headers: headers('github:1', session),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'gate', arguments: { name: 'g1' }, _meta: { progressToken: 'p1' } },
    }),
    signal: abort.signal,
  });
  expect(call.headers.get('content-type')).toContain('text/event-stream');
  const stream = events(call.body!);
  const priming = (await stream.next()).value as SseEvent;
  // The priming event: an id, no message.
  expect(priming.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  expect(priming.data).toBe('');
  const progress = (await stream.next()).value as SseEvent;
  expect(JSON.parse(progress.data)).toMatchObject({ method: 'notifications/progress' });
  // The connection is lost while the call still runs.
  abort.abort();

  await fetch(url, {
    method: 'POST',
    headers: headers('github:1', session),
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 8,
      method: 'tools/call',
      params: { name: 'open_gate', arguments: { name: 'g1' } },
    }),
  }).then((r) => r.text());

  // Another user with that session and event id: nothing.
  const stolen = await fetch(url, { headers: headers('github:2', session, { 'last-event-id': progress.id! }) });
  expect(stolen.status).toBe(404);
  await stolen.text();

  const done = new AbortController();
  const resumed = await fetch(url, {
    headers: headers('github:1', session, { 'last-event-id': progress.id! }),
    signal: done.signal,
  });
  expect(resumed.status).toBe(200);
  const replay = events(resumed.body!);
  const result = (await replay.next()).value as SseEvent;
  expect(JSON.parse(result.data)).toMatchObject({ id: 7, result: { content: [{ type: 'text' }] } });
  done.abort();
});

describe('SessionEventStore', () => {
  const message = (n: number) => ({ jsonrpc: '2.0' as const, method: 'notifications/message', params: { n } });
  const replayed = async (store: SessionEventStore, id: string) => {
    const out: unknown[] = [];
    const stream = await store.replayEventsAfter(id, { send: async (_id, m) => void out.push(m) });
    return { stream, out };
  };

  test('replays in order what came after an id, on its stream only; never the priming event', async () => {
    const store = new SessionEventStore();
    const prime = await store.storeEvent('a', {} as never);
    const a1 = await store.storeEvent('a', message(1));
    await store.storeEvent('b', message(99));
    await store.storeEvent('a', message(2));
    await store.storeEvent('a', message(3));
    expect(await replayed(store, prime)).toEqual({ stream: 'a', out: [message(1), message(2), message(3)] });
    expect(await replayed(store, a1)).toEqual({ stream: 'a', out: [message(2), message(3)] });
    expect(await store.getStreamIdForEventId(a1)).toBe('a');
    expect(await replayed(store, 'not-an-id')).toEqual({ stream: '', out: [] });
  });

  test('bounded: the oldest events of a stream, and the least recently written streams, go first', async () => {
    const store = new SessionEventStore({ eventsPerStream: 3, streams: 2, bytes: 1024 * 1024 });
    const first = await store.storeEvent('a', message(1));
    for (const n of [2, 3, 4]) await store.storeEvent('a', message(n));
    expect(await store.getStreamIdForEventId(first)).toBeUndefined();
    expect(store.size).toBe(3);
    const b = await store.storeEvent('b', message(5));
    await store.storeEvent('a', message(6)); // a is now the most recently written
    await store.storeEvent('c', message(7)); // three streams: b goes
    expect(await store.getStreamIdForEventId(b)).toBeUndefined();
    expect(store.size).toBe(4);
  });

  test('bounded in bytes: the oldest events of the least recently written streams go first', async () => {
    const sized = (n: number) => ({ ...message(n), params: { n, pad: 'x'.repeat(1000) } });
    const bytes = Buffer.byteLength(JSON.stringify(sized(1)));
    const store = new SessionEventStore({ eventsPerStream: 500, streams: 64, bytes: bytes * 3 });
    const a1 = await store.storeEvent('a', sized(1));
    const a2 = await store.storeEvent('a', sized(2));
    const b1 = await store.storeEvent('b', sized(3));
    expect(store.heldBytes).toBe(bytes * 3);
    const b2 = await store.storeEvent('b', sized(4)); // over: a's oldest goes
    expect(await store.getStreamIdForEventId(a1)).toBeUndefined();
    expect(await store.getStreamIdForEventId(a2)).toBe('a');
    await store.storeEvent('b', sized(5)); // a's last one goes, and with it stream a
    expect(await store.getStreamIdForEventId(a2)).toBeUndefined();
    expect(await replayed(store, b1)).toEqual({ stream: 'b', out: [sized(4), sized(5)] });
    expect(await store.getStreamIdForEventId(b2)).toBe('b');
    expect(store.heldBytes).toBe(bytes * 3);
    expect(store.size).toBe(3);
  });
});
