/**
 * The native services speak both protocol eras (mcp-services/shared/http-service.ts on the MCP SDK
 * v2): a client pinned to 2026-07-28 (the official v2 client: server/discover, no session, the
 * per-request `_meta` envelope) lists and calls tools, and learns who the gateway says is calling;
 * a 2025 client (the v1 SDK) keeps its sessions. Stateless and stateful services alike.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { Client as LegacyClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as LegacyTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { IDENTITY } from '../../contracts/headers.ts';
import { createEchoServer } from '../../mcp-services/shared/echo.ts';
import { serveService } from '../support/service-handler.ts';
import { modernRequest } from '../support/modern-request.ts';
import { createTimeServer } from '../../mcp-services/time/src/time.ts';

const closers: (() => Promise<void>)[] = [];
async function serve(options: Parameters<typeof serveService>[0]): Promise<URL> {
  const service = await serveService(options);
  closers.push(() => service.close());
  return service.url;
}
afterAll(async () => {
  for (const close of closers) await close();
});

const identity = { [IDENTITY.id]: 'github:7', [IDENTITY.login]: 'octocat', [IDENTITY.provider]: 'github' };

async function modern(url: URL): Promise<ModernClient> {
  const client = new ModernClient(
    { name: 'modern-test', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(new ModernTransport(url, { requestInit: { headers: identity } }));
  return client;
}

const textOf = (result: unknown) => (result as { content: { text: string }[] }).content[0]!.text;

describe.each([
  ['echo-stateless', false],
  ['echo-stateful', true],
])('%s', (name, stateful) => {
  let url: URL;
  beforeAll(async () => {
    url = await serve({ name, stateful, create: () => createEchoServer(name, { stateful }) });
  });

  test('a 2026-07-28 client: discovery, tools, the identity the gateway passed, no session', async () => {
    const client = await modern(url);
    expect(client.getServerVersion()?.name).toBe(name);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'whoami']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'modern' } }))).toBe('modern');
    const who = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))) as {
      identity: { id: string; login: string };
      headers: Record<string, string>;
    };
    expect(who.identity).toMatchObject({ id: 'github:7', login: 'octocat' });
    expect(who.headers['mcp-protocol-version']).toBe('2026-07-28');
    expect(who.headers['mcp-session-id']).toBeUndefined();
    await client.close();
  });

  test('a 2025 client still works as before', async () => {
    const client = new LegacyClient({ name: 'legacy-test', version: '1.0.0' });
    const transport = new LegacyTransport(url, { requestInit: { headers: identity } });
    await client.connect(transport);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'legacy' } }))).toBe('legacy');
    expect(transport.sessionId !== undefined).toBe(stateful);
    await client.close();
  });

  test('an unknown protocol version: -32022 with the versions supported', async () => {
    const res = await fetch(url, modernRequest('tools/list', {}, { id: 8, version: '2099-01-01', headers: identity }));
    const body = (await res.json()) as { id: number; error: { code: number; data: { supported: string[] } } };
    expect(body).toMatchObject({ id: 8, error: { code: -32022 } });
    expect(body.error.data.supported).toContain('2026-07-28');
  });
});

test('time (stateless, raw-shape tools): a 2026-07-28 client converts a time', async () => {
  const url = await serve({
    name: 'time',
    stateful: false,
    create: () => createTimeServer({ localTimeZone: 'UTC', now: () => new Date('2026-12-04T12:00:00Z') }),
  });
  const client = await modern(url);
  const result = await client.callTool({ name: 'get_current_time', arguments: { timezone: 'Europe/Paris' } });
  expect(textOf(result)).toContain('2026-12-04T13:00:00+01:00');
  await client.close();
});
