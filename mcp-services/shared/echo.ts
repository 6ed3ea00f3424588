/**
 * The echo services' tools: echo a message, and show who the gateway says is calling. Built on the
 * MCP SDK v2 (`@modelcontextprotocol/server`), so that one server serves both protocol eras:
 * 2025 (initialize, sessions) and 2026-07-28 (stateless, server/discover) (http-service.ts).
 */
import { McpServer, type ServerContext } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { callerIdentity, headersOf } from './identity.ts';

export function createEchoServer(name: string, options: { stateful: boolean }): McpServer {
  const server = new McpServer({ name, version: '0.1.0' });
  let calls = 0;
  server.registerTool(
    'echo',
    { description: 'Returns the message it is given.', inputSchema: z.object({ message: z.string() }) },
    async ({ message }) => {
      calls++;
      return { content: [{ type: 'text', text: message }] };
    },
  );
  server.registerTool(
    'whoami',
    {
      description: 'Returns the identity the gateway passed for this request, and every header the service received.',
      inputSchema: z.object({}),
    },
    async (_args: unknown, ctx: ServerContext) => {
      calls++;
      const headers = headersOf(ctx.http?.req);
      const result = { identity: callerIdentity(headers), headers, sessionCalls: options.stateful ? calls : undefined };
      return { content: [{ type: 'text', text: JSON.stringify(result) }] };
    },
  );
  if (options.stateful) {
    // A gate holds a call open until another call opens it: a test of streaming through every
    // hop (the progress notification must arrive while the call is still running).
    server.registerTool(
      'gate',
      {
        description:
          'Sends a progress notification, then waits (up to 30 s) until open_gate is called with the same name.',
        inputSchema: z.object({ name: z.string() }),
      },
      async ({ name }, ctx) => {
        const token = ctx.mcpReq._meta?.progressToken;
        const opened = new Promise<void>((resolve) => gates.set(name, resolve));
        if (token !== undefined) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken: token, progress: 1, total: 2, message: `waiting at gate ${name}` },
          });
        }
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 30_000)));
        const outcome = await Promise.race([opened, timeout]);
        clearTimeout(timer);
        gates.delete(name);
        return {
          content: [{ type: 'text', text: outcome === 'timeout' ? `gate ${name} timed out` : `gate ${name} passed` }],
        };
      },
    );
    server.registerTool(
      'open_gate',
      { description: 'Opens a gate a gate call is waiting at.', inputSchema: z.object({ name: z.string() }) },
      async ({ name }) => {
        const open = gates.get(name);
        open?.();
        return { content: [{ type: 'text', text: open ? 'opened' : 'no such gate' }] };
      },
    );
  }
  return server;
}

/** Gates of the process (shared by the sessions of one echo-stateful). */
const gates = new Map<string, () => void>();
