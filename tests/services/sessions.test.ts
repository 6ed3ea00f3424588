/**
 * A native stateful service's sessions belong to the user who opened them
 * (mcp-services/shared/http-service.ts): another user presenting a session id gets 404, whatever
 * their token, and the owner's session is unaffected (as at the stdio proxy,
 * tests/proxy/transport.test.ts). MCP transports, "Session Management": servers SHOULD bind
 * session ids to user-specific information.
 */
import { IDENTITY } from '../../contracts/headers.ts';
import { serveEchoStateful, type serveService } from '../support/service-handler.ts';

let service: Awaited<ReturnType<typeof serveService>>;
let url: string;

beforeAll(async () => {
  service = await serveEchoStateful();
  url = service.url.href;
});
afterAll(() => service.close());

const as = (user: string, session?: string) => ({
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
  [IDENTITY.id]: user,
  [IDENTITY.login]: user.split(':')[1] ?? user,
  [IDENTITY.provider]: 'github',
  ...(session ? { 'mcp-session-id': session } : {}),
});

async function rpc(user: string, method: string, session?: string, id: number | null = 1) {
  const res = await fetch(url, {
    method: 'POST',
    headers: as(user, session),
    body: JSON.stringify({
      jsonrpc: '2.0',
      ...(id === null ? {} : { id }),
      method,
      params:
        method === 'initialize'
          ? { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sessions-test', version: '1' } }
          : {},
    }),
  });
  const text = await res.text();
  return { status: res.status, session: res.headers.get('mcp-session-id') ?? undefined, text };
}

test("another user presenting a session id gets 404; the owner's session is unaffected", async () => {
  const opened = await rpc('github:1', 'initialize');
  expect(opened.status).toBe(200);
  const session = opened.session!;
  expect((await rpc('github:1', 'notifications/initialized', session, null)).status).toBe(202);

  const stolen = await rpc('github:2', 'tools/list', session);
  expect(stolen.status).toBe(404);
  expect(JSON.parse(stolen.text)).toEqual({
    jsonrpc: '2.0',
    error: { code: -32000, message: 'Session not found' },
    id: null,
  });
  // Closing it is not theirs either.
  const deleted = await fetch(url, { method: 'DELETE', headers: as('github:2', session) });
  expect(deleted.status).toBe(404);

  const mine = await rpc('github:1', 'tools/list', session);
  expect(mine.status).toBe(200);
  expect(mine.text).toContain('"tools"');
});
