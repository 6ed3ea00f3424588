/**
 * Black box through `npm start` with every service of the catalogue enabled: a client that speaks
 * only MCP 2026-07-28 (the official SDK v2 client, pinned: `server/discover`, no `initialize`,
 * no session), authorized through the gateway, lists each service's tools and calls one. The
 * native services answer it themselves; the stdio servers (everything, filesystem, memory,
 * sequential thinking, Playwright) through the proxy's 2026-07-28 path, from a child it
 * initialized for the user. A service added to the catalogue without a call here fails the first
 * test.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { SPECS } from '../../mcp-services/catalogue.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { connectWithOAuth } from '../support/mcp-client.ts';
import { Person } from '../support/person.ts';
import { startStack, type Stack } from '../support/stack.ts';

let github: GitHubStandin;
let stack: Stack;
let site: Server;
let siteUrl: string;
let person: Person;

type ToolResult = { content: { type: string; text?: string }[]; isError?: boolean };
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');

/** One call per service, and what its answer must say. */
const CALLS: Record<string, { tool: string; args: () => Record<string, unknown>; says: () => string | RegExp }> = {
  'echo-stateful': { tool: 'echo', args: () => ({ message: 'modern' }), says: () => 'modern' },
  'echo-stateless': { tool: 'echo', args: () => ({ message: 'modern' }), says: () => 'modern' },
  fetch: { tool: 'fetch', args: () => ({ url: siteUrl }), says: () => 'Catalogue test page' },
  time: { tool: 'get_current_time', args: () => ({ timezone: 'UTC' }), says: () => 'UTC' },
  tmux: { tool: 'list_sessions', args: () => ({}), says: () => /^\[.*\]$/s }, // the user's sessions, as JSON
  everything: { tool: 'echo', args: () => ({ message: 'modern' }), says: () => 'Echo: modern' },
  filesystem: { tool: 'list_allowed_directories', args: () => ({}), says: () => 'filesystem' },
  memory: { tool: 'read_graph', args: () => ({}), says: () => 'entities' },
  sequentialthinking: {
    tool: 'sequentialthinking',
    args: () => ({ thought: 'one step', nextThoughtNeeded: false, thoughtNumber: 1, totalThoughts: 1 }),
    says: () => 'thoughtNumber',
  },
  playwright: { tool: 'browser_navigate', args: () => ({ url: siteUrl }), says: () => 'Catalogue test page' },
};

beforeAll(async () => {
  github = await startGitHubStandin();
  site = createServer((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<html><head><title>Catalogue test page</title></head><body><h1>Catalogue test page</h1></body></html>');
  }).listen(0, '127.0.0.1');
  await once(site, 'listening');
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}/page`;
  const enabled = Object.fromEntries(
    Object.keys(SPECS).map((name) => [`MCP_${name.toUpperCase().replaceAll('-', '_')}_ENABLED`, 'true']),
  );
  stack = await startStack({ github, env: { ...enabled, MCP_FETCH_ALLOW_PRIVATE: 'true' } });
  person = new Person(stack.url, github);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await github?.stop();
  site?.close();
});

test('every service of the catalogue has a call here', () => {
  expect(Object.keys(CALLS).sort()).toEqual(Object.keys(SPECS).sort());
});

test.each(Object.keys(SPECS))(
  '%s: a client that speaks only 2026-07-28 lists its tools and calls one through the gateway',
  async (service) => {
    const url = `${stack.url}/${service}/mcp`;
    // The gateway's token, as any client gets it (the authorization is the same for both eras).
    const { client: legacy, provider } = await connectWithOAuth(url, { person });
    await legacy.close();
    const client = new ModernClient(
      { name: 'catalogue-modern', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new ModernTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${provider.saved!.access_token}` } },
      }),
    );
    try {
      const call = CALLS[service]!;
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain(call.tool);
      const result = (await client.callTool(
        { name: call.tool, arguments: call.args() },
        { timeout: 60_000 },
      )) as ToolResult;
      expect(result.isError ?? false).toBe(false);
      const says = call.says();
      if (typeof says === 'string') expect(text(result)).toContain(says);
      else expect(text(result)).toMatch(says);
    } finally {
      await client.close();
    }
  },
  90_000,
);
