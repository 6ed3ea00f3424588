/**
 * Black box through `npm start`: an MCP SDK client, authorized through the gateway, uses the
 * catalogue's services — echo-stateful (native, sessions), fetch (native), everything (the
 * reference stdio server through the stdio proxy) — and a long-running tool's progress
 * notifications reach it while the call is still running.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { Person } from '../support/person.ts';
import { connectWithOAuth } from '../support/mcp-client.ts';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { sseEvents, type SseEvent } from '../support/sse.ts';

let github: GitHubStandin;
let stack: Stack;
let site: Server;
let siteUrl: string;
let person: Person;

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };

beforeAll(async () => {
  github = await startGitHubStandin();
  site = createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<html><body><h1>Gateway test page</h1><p>Fetched <b>through</b> the gateway.</p></body></html>');
  }).listen(0, '127.0.0.1');
  await once(site, 'listening');
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}/page`;
  stack = await startStack({
    github,
    env: {
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      MCP_FETCH_ENABLED: 'true',
      MCP_EVERYTHING_ENABLED: 'true',
      // The test's page is on loopback, which fetch refuses unless told otherwise.
      MCP_FETCH_ALLOW_PRIVATE: 'true',
    },
  });
  person = new Person(stack.url, github);
});
afterAll(async () => {
  await stack?.stop();
  await github?.stop();
  site?.close();
});

test('echo-stateful: tools through the gateway', async () => {
  const { client } = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, { person });
  const result = (await client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as ToolResult;
  expect(result.content[0]!.text).toBe('hi');
  await client.close();
});

test('fetch: a page as Markdown', async () => {
  const { client } = await connectWithOAuth(`${stack.url}/fetch/mcp`, { person });
  const result = (await client.callTool({ name: 'fetch', arguments: { url: siteUrl } })) as ToolResult;
  expect(result.isError).toBeFalsy();
  const text = result.content.map((c) => c.text).join('\n');
  expect(text).toContain('# Gateway test page');
  expect(text).toContain('**through**');
  await client.close();
});

test('everything (stdio, through the proxy): tools, and progress while the call runs', async () => {
  const { client } = await connectWithOAuth(`${stack.url}/everything/mcp`, { person });
  const tools = await client.listTools();
  expect(tools.tools.map((t) => t.name)).toEqual(
    expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']),
  );
  const sum = (await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } })) as ToolResult;
  expect(sum.content[0]!.text).toContain('5');

  let finished = false;
  const progress: number[] = [];
  let probe: Promise<boolean> | undefined;
  const call = client
    .callTool({ name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 3 } }, undefined, {
      onprogress: (p) => {
        progress.push(p.progress);
        // At the first notification, ask something else in the same session: with every hop
        // streaming, its answer comes back while the long operation is still running.
        probe ??= client.callTool({ name: 'echo', arguments: { message: 'probe' } }).then(() => finished);
      },
      timeout: 30_000,
    })
    .then((r) => {
      finished = true;
      return r as ToolResult;
    });
  const result = await call;
  expect(progress).toEqual([1, 2, 3]);
  expect(await probe).toBe(false);
  expect(result.content[0]!.text).toContain('Long running operation completed');
  await client.close();
});

test('a stream lost mid-call is resumed through the edge with Last-Event-ID (echo-stateful)', async () => {
  const { client, provider } = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, { person });
  await client.close();
  const url = `${stack.url}/echo-stateful/mcp`;
  const base = {
    authorization: `Bearer ${provider.saved!.access_token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-11-25',
  };
  const post = (body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(url, { method: 'POST', headers: { ...base, ...headers }, body: JSON.stringify(body), signal });
  const opened = await post({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'resume', version: '1' } },
  });
  await opened.text();
  const session = { 'mcp-session-id': opened.headers.get('mcp-session-id')! };
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text();

  const lost = new AbortController();
  const call = await post(
    {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'gate', arguments: { name: 'edge' }, _meta: { progressToken: 'e' } },
    },
    session,
    lost.signal,
  );
  const stream = sseEvents(call.body!);
  expect(((await stream.next()).value as SseEvent).id).toBeTruthy(); // the priming event
  const progress = (await stream.next()).value as SseEvent;
  expect(JSON.parse(progress.data)).toMatchObject({ method: 'notifications/progress' });
  lost.abort();
  await (
    await post(
      { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'open_gate', arguments: { name: 'edge' } } },
      session,
    )
  ).text();

  const done = new AbortController();
  const resumed = await fetch(url, {
    headers: { ...base, ...session, 'last-event-id': progress.id! },
    signal: done.signal,
  });
  expect(resumed.status).toBe(200);
  const result = (await sseEvents(resumed.body!).next()).value as SseEvent;
  done.abort();
  expect(JSON.parse(result.data)).toMatchObject({ id: 3, result: { content: [{ type: 'text' }] } });
});

test('a client pinned to MCP 2026-07-28 uses echo-stateful, fetch and everything (stdio, through the proxy) through the gateway', async () => {
  for (const service of ['echo-stateful', 'fetch', 'everything']) {
    // The gateway's token, as any client gets it (the 2025 flow is the same authorization).
    const { client: legacy, provider } = await connectWithOAuth(`${stack.url}/${service}/mcp`, { person });
    await legacy.close();
    const client = new ModernClient(
      { name: 'modern-e2e', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new ModernTransport(new URL(`${stack.url}/${service}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${provider.saved!.access_token}` } },
      }),
    );
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    if (service === 'echo-stateful') {
      const result = (await client.callTool({ name: 'whoami', arguments: {} })) as ToolResult;
      const who = JSON.parse(result.content[0]!.text) as {
        identity: { login: string };
        headers: Record<string, string>;
      };
      expect(who.identity.login).toBe('octocat');
      // The 2026-07-28 routing headers reached the service as the client sent them.
      expect(who.headers['mcp-method']).toBe('tools/call');
      expect(who.headers['mcp-name']).toBe('whoami');
    } else if (service === 'fetch') {
      const result = (await client.callTool({ name: 'fetch', arguments: { url: siteUrl } })) as ToolResult;
      expect(result.content.map((c) => c.text).join('\n')).toContain('Gateway test page');
    } else {
      // A stdio server of today, initialized by the proxy, serving a client that never initializes.
      expect(client.getServerVersion()?.name).toContain('everything');
      const result = (await client.callTool({ name: 'echo', arguments: { message: 'modern' } })) as ToolResult;
      expect(result.content[0]!.text).toContain('modern');
    }
    await client.close();
  }
});

test('a 2026-07-28 client answers a stdio server’s elicitation and sampling mid-call, through the gateway (input-required rounds)', async () => {
  const { client: legacy, provider } = await connectWithOAuth(`${stack.url}/everything/mcp`, { person });
  await legacy.close();
  const client = new ModernClient(
    { name: 'modern-e2e-input', version: '1.0.0' },
    { capabilities: { elicitation: { form: {} }, sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  const asked: string[] = [];
  client.setRequestHandler('elicitation/create', async (request) => {
    asked.push(request.method);
    return { action: 'accept', content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com' } };
  });
  client.setRequestHandler('sampling/createMessage', async (request) => {
    asked.push(request.method);
    return { role: 'assistant', model: 'stand-in', content: { type: 'text', text: 'sampled by the client' } };
  });
  await client.connect(
    new ModernTransport(new URL(`${stack.url}/everything/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${provider.saved!.access_token}` } },
    }),
  );
  const elicited = (await client.callTool({ name: 'trigger-elicitation-request', arguments: {} })) as ToolResult;
  expect(elicited.content.map((c) => c.text).join('\n')).toContain('Ada Lovelace');
  const sampled = (await client.callTool({
    name: 'trigger-sampling-request',
    arguments: { prompt: 'hello', maxTokens: 20 },
  })) as ToolResult;
  expect(sampled.content.map((c) => c.text).join('\n')).toContain('sampled by the client');
  expect(asked).toEqual(['elicitation/create', 'sampling/createMessage']);
  await client.close();
});
