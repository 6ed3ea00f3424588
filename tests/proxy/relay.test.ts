/**
 * Messages in both directions through the proxy, with the official SDK client: server-to-client
 * requests (sampling, elicitation, roots), progress and logging notifications.
 */
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { connect, startTestProxy, textOf, type Connected, type TestProxy } from './fixtures/harness.ts';

let proxy: TestProxy;
let connected: Connected;
beforeAll(async () => {
  proxy = await startTestProxy();
  connected = await connect(proxy.url, 'github:1', {
    capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } },
  });
  const { client } = connected;
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const content = request.params.messages[0]!.content as { type: string; text: string };
    return { role: 'assistant', model: 'test-model', content: { type: 'text', text: content.text.toUpperCase() } };
  });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
});
afterAll(async () => {
  await connected.client.close();
  await proxy.close();
});

test('sampling: the server asks the client to sample during a tool call', async () => {
  const result = await connected.client.callTool({ name: 'sample', arguments: { prompt: 'hello' } });
  expect(textOf(result)).toBe('sampled: HELLO');
});

test('elicitation: the server asks the user during a tool call', async () => {
  const result = await connected.client.callTool({ name: 'elicit', arguments: {} });
  expect(JSON.parse(textOf(result))).toEqual({ action: 'accept', content: { name: 'Ada' } });
});

test('roots: the server lists the client roots', async () => {
  const result = await connected.client.callTool({ name: 'roots', arguments: {} });
  expect(JSON.parse(textOf(result))).toEqual({ roots: [{ uri: 'file:///work', name: 'work' }] });
});

test('progress and logging notifications reach the client while the call runs', async () => {
  const progress: Progress[] = [];
  const logs: unknown[] = [];
  connected.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
  await connected.client.setLoggingLevel('info');
  const result = await connected.client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, {
    onprogress: (p) => void progress.push(p),
  });
  expect(textOf(result)).toBe('done in 3 steps');
  expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
  expect(progress[2]).toMatchObject({ total: 3, message: 'step 3' });
  expect(logs).toContain('progress done');
});

test('concurrent calls in one session each get their own answer', async () => {
  const messages = Array.from({ length: 10 }, (_, i) => `message ${i}`);
  const results = await Promise.all(
    messages.map((message) => connected.client.callTool({ name: 'echo', arguments: { message } })),
  );
  expect(results.map(textOf)).toEqual(messages);
});

test('a call the client cancels does not break the session', async () => {
  const controller = new AbortController();
  const call = connected.client.callTool({ name: 'hang', arguments: {} }, undefined, { signal: controller.signal });
  setTimeout(() => controller.abort('changed my mind'), 100);
  await expect(call).rejects.toThrow();
  expect(textOf(await connected.client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe('after');
});
