/**
 * A stdio server of today asks its client something during a call (elicitation, sampling, roots);
 * the client speaks only 2026-07-28 and holds no connection it could be asked on. Through the
 * proxy the question becomes an input-required result, the client's retry carries the answer to
 * the waiting server, and the call completes (mcp-services/proxy/src/input-required.ts). The
 * official SDK v2 client drives the rounds itself; raw requests show the wire and the refusals
 * of tampered, stolen and stale request state.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { startTestProxy, textOf, type TestProxy } from './fixtures/harness.ts';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startTestProxy({ modernChildrenPerUser: 2 });
});
afterAll(() => proxy.close());

async function modern(user: string, capabilities: Record<string, unknown>): Promise<ModernClient> {
  const client = new ModernClient(
    { name: 'input-required-test', version: '1.0.0' },
    { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(new ModernTransport(new URL(proxy.url), { requestInit: { headers: { 'x-user-id': user } } }));
  return client;
}

test('elicitation mid-call: the 2026-07-28 client answers, the legacy server completes the call', async () => {
  const client = await modern('github:31', { elicitation: { form: {} } });
  const asked: unknown[] = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(request.params);
    return { action: 'accept', content: { name: 'Ada' } };
  });
  const result = await client.callTool({ name: 'elicit', arguments: {} });
  expect(JSON.parse(textOf(result))).toEqual({ action: 'accept', content: { name: 'Ada' } });
  expect(asked).toEqual([expect.objectContaining({ message: 'Your name?' })]);
  expect(proxy.pool.flights.size).toBe(0);
  await client.close();
});

test('sampling mid-call, twice in a row on the same child', async () => {
  const client = await modern('github:32', { sampling: {} });
  client.setRequestHandler('sampling/createMessage', async (request) => {
    const first = request.params.messages[0]!.content as { text: string };
    return { role: 'assistant', model: 'stand-in', content: { type: 'text', text: first.text.toUpperCase() } };
  });
  expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hello' } }))).toBe('sampled: HELLO');
  expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'again' } }))).toBe('sampled: AGAIN');
  await client.close();
});

test('roots mid-call', async () => {
  const client = await modern('github:33', { roots: {} });
  client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
  const result = textOf(await client.callTool({ name: 'roots', arguments: {} }));
  expect(result).toContain('file:///work');
  await client.close();
});

test('a client without the capability: the server is told so, and the call ends with its error', async () => {
  const client = await modern('github:34', {});
  const result = (await client.callTool({ name: 'elicit', arguments: {} })) as {
    isError?: boolean;
    content: { text: string }[];
  };
  expect(result.isError).toBe(true);
  expect(result.content[0]!.text).toMatch(/does not support form elicitation/);
  await client.close();
});

// ---- The wire: raw 2026-07-28 requests -----------------------------------------------------

const envelope = (capabilities: Record<string, unknown>) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': capabilities,
});

type Rpc = {
  result?: {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params: Record<string, unknown> }>;
    requestState?: string;
    content?: { text: string }[];
  };
  error?: { code: number; message: string };
};

async function callElicit(user: string, retry?: { inputResponses?: unknown; requestState?: string }): Promise<Rpc> {
  const res = await fetch(proxy.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'elicit',
      'x-user-id': user,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'tools/call',
      params: { name: 'elicit', arguments: {}, _meta: envelope({ elicitation: {} }), ...retry },
    }),
  });
  const text = await res.text();
  // One JSON body, or an SSE stream whose last data line is the answer.
  const data = text.startsWith('{')
    ? text
    : text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .pop()!
        .slice(6);
  return JSON.parse(data) as Rpc;
}

test('on the wire: input_required with keyed requests and sealed state; tampered, stolen and stale state refused', async () => {
  const first = await callElicit('github:35');
  expect(first.result?.resultType).toBe('input_required');
  const [key, request] = Object.entries(first.result!.inputRequests!)[0]!;
  expect(request.method).toBe('elicitation/create');
  expect(request.params).toMatchObject({ message: 'Your name?' });
  const state = first.result!.requestState!;
  expect(state).toMatch(/^v1\./);

  const invalid = { code: -32602, message: 'Invalid or expired requestState' };
  const answer = { [key]: { action: 'accept', content: { name: 'Grace' } } };
  // Tampered: one character of the seal changed.
  const tampered = state.slice(0, -2) + (state.at(-2) === 'A' ? 'B' : 'A') + state.at(-1);
  expect((await callElicit('github:35', { inputResponses: answer, requestState: tampered })).error).toMatchObject(
    invalid,
  );
  // Another user's retry with this user's state: bound to the user, refused.
  expect((await callElicit('github:36', { inputResponses: answer, requestState: state })).error).toMatchObject(invalid);
  // The owner's retry completes the call, the child's question answered.
  const done = await callElicit('github:35', { inputResponses: answer, requestState: state });
  expect(JSON.parse(done.result!.content![0]!.text)).toEqual({ action: 'accept', content: { name: 'Grace' } });
  // Stale: the flight it named has ended.
  expect((await callElicit('github:35', { inputResponses: answer, requestState: state })).error).toMatchObject(invalid);
});

test('a retry without the answer is asked again; the call waits for it', async () => {
  const first = await callElicit('github:37');
  const state = first.result!.requestState!;
  const again = await callElicit('github:37', { inputResponses: {}, requestState: state });
  expect(again.result?.resultType).toBe('input_required');
  const [key] = Object.keys(again.result!.inputRequests!);
  const done = await callElicit('github:37', {
    inputResponses: { [key!]: { action: 'decline' } },
    requestState: again.result!.requestState!,
  });
  expect(JSON.parse(done.result!.content![0]!.text)).toEqual({ action: 'decline' });
});
