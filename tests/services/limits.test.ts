/**
 * A native service's bounds (mcp-services/shared/http-service.ts, SERVICE_LIMITS): 2025-era
 * sessions per user (429) and in all (503), each refusal a JSON-RPC error logged once per key; a
 * session idle past its life ends (404 afterwards); request headers over 16 KiB get 431.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerClientErrors } from '../../contracts/client-errors.ts';
import { LimitLog } from '../../contracts/limit-log.ts';
import { createEchoServer } from '../../mcp-services/shared/echo.ts';
import { createServiceHandler } from '../../mcp-services/shared/http-service.ts';

const logged: { fields: Record<string, unknown>; msg: string }[] = [];
const log = {
  info: () => {},
  warn: (fields: Record<string, unknown> | string, msg?: string) =>
    void logged.push(typeof fields === 'string' ? { fields: {}, msg: fields } : { fields, msg: msg ?? '' }),
};
let server: Server;
let url: string;

beforeAll(async () => {
  const handler = createServiceHandler(
    { name: 'echo-stateful', stateful: true, create: () => createEchoServer('echo-stateful', { stateful: true }), log },
    { sessions: 3, sessionsPerUser: 2, idleMs: 400 },
  );
  server = answerClientErrors(createServer(handler), 'jsonrpc', new LimitLog(log));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const initialize = (user: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-user-id': user },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });

async function open(user: string): Promise<string> {
  const res = await initialize(user);
  expect(res.status).toBe(200);
  await res.text();
  return res.headers.get('mcp-session-id')!;
}

const ping = (user: string, session: string) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'x-user-id': user,
      'mcp-session-id': session,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
  });

const lines = (limit: string) => logged.filter((l) => l.fields.limit === limit);

test('sessions per user: 429; sessions in all: 503 with Retry-After; each logged once; idle sessions end', async () => {
  const a1 = await open('github:1');
  await open('github:1');
  for (let i = 0; i < 3; i++) {
    const refused = await initialize('github:1');
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
  }
  expect(lines('sessions per user')).toHaveLength(1);
  expect(lines('sessions per user')[0]!.fields).toMatchObject({ key: 'github:1', max: 2, status: 429 });

  const b1 = await open('github:2');
  const full = await initialize('github:3');
  expect(full.status).toBe(503);
  expect(full.headers.get('retry-after')).toBe('30');
  await full.text();
  expect(lines('sessions')).toHaveLength(1);

  // Kept alive by use, a session outlives the idle time; the unused ones end, and free their slots.
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await ping('github:2', b1)).status).toBe(200);
  }
  expect((await ping('github:1', a1)).status).toBe(404);
  await open('github:3');
}, 20_000);

test('request headers over 16 KiB: 431, a JSON-RPC error', async () => {
  const res = await fetch(url, { method: 'POST', headers: { 'x-big': 'y'.repeat(20_000) }, body: '{}' });
  expect(res.status).toBe(431);
  expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32600 } });
  expect(lines('request header size')).toHaveLength(1);
});
