/**
 * A stdio server's notifications reach 2026-07-28 clients of the proxy
 * (mcp-services/proxy/src/notifications.ts): list changes and resource updates on the user's
 * `subscriptions/listen` streams, never another user's; log messages on the stream of the request
 * that asked for them, at its level.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { startTestProxy, textOf, waitFor, type TestProxy } from './fixtures/harness.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy();
});
afterAll(() => proxy.close());

async function modern(user: string): Promise<ModernClient> {
  const client = new ModernClient(
    { name: 'listen-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(new ModernTransport(new URL(proxy.url), { requestInit: { headers: { 'x-user-id': user } } }));
  return client;
}

test('list changes and resource updates reach the user’s listen stream, and only theirs', async () => {
  const alice = await modern('github:41');
  const bob = await modern('github:42');
  const heard: Record<string, string[]> = { alice: [], bob: [] };
  for (const [name, client] of [
    ['alice', alice],
    ['bob', bob],
  ] as const) {
    client.setNotificationHandler('notifications/tools/list_changed', () => void heard[name]!.push('tools'));
    client.setNotificationHandler('notifications/resources/updated', (n) => void heard[name]!.push(n.params.uri));
  }
  const filter = { toolsListChanged: true, resourceSubscriptions: ['counter://value'] };
  const aliceListens = await alice.listen(filter);
  const bobListens = await bob.listen(filter);
  expect(aliceListens.honoredFilter).toMatchObject({
    toolsListChanged: true,
    resourceSubscriptions: ['counter://value'],
  });

  expect(textOf(await alice.callTool({ name: 'add_tool', arguments: {} }))).toBe('added_1');
  expect(textOf(await alice.callTool({ name: 'bump', arguments: {} }))).toBe('1');
  await waitFor(() => heard.alice!.length === 2, 5000);
  expect(heard.alice).toEqual(['tools', 'counter://value']);
  // Bob's child is his own: Alice's changes are not his.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(heard.bob).toEqual([]);
  expect((await alice.listTools()).tools.map((t) => t.name)).toContain('added_1');

  await aliceListens.close();
  await bobListens.close();
  for (const c of [alice, bob]) await c.close();
});

test('log messages reach the request that asked for them, at its level', async () => {
  const client = await modern('github:43');
  const logs: unknown[] = [];
  client.setNotificationHandler('notifications/message', (n) => void logs.push(n.params));
  // MCP 2026-07-28: the level is asked for per request, in its `_meta`.
  const atLevel = (level: string) => ({ 'io.modelcontextprotocol/logLevel': level });
  const log = (level: string, message: string, asked?: string) =>
    client.callTool({ name: 'log', arguments: { level, message }, ...(asked ? { _meta: atLevel(asked) } : {}) });
  await log('info', 'quiet', 'error');
  await log('error', 'loud', 'error');
  await log('error', 'unasked');
  await log('info', 'chatty', 'debug');
  expect(logs).toEqual([
    { level: 'error', data: 'loud' },
    { level: 'info', data: 'chatty' },
  ]);
  await client.close();
});
