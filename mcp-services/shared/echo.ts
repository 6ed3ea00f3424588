/** The echo services' tools: echo a message, and show who the gateway says is calling. */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { callerIdentity } from './identity.ts';

export function createEchoServer(name: string, options: { stateful: boolean }): McpServer {
  const server = new McpServer({ name, version: '0.1.0' });
  let calls = 0;
  server.registerTool(
    'echo',
    { description: 'Returns the message it is given.', inputSchema: { message: z.string() } },
    async ({ message }) => {
      calls++;
      return { content: [{ type: 'text', text: message }] };
    },
  );
  server.registerTool(
    'whoami',
    {
      description: 'Returns the identity the gateway passed for this request, and every header the service received.',
      inputSchema: {},
    },
    async (_args, extra) => {
      calls++;
      const headers = (extra.requestInfo?.headers ?? {}) as Record<string, string | string[] | undefined>;
      const result = { identity: callerIdentity(headers), headers, sessionCalls: options.stateful ? calls : undefined };
      return { content: [{ type: 'text', text: JSON.stringify(result) }] };
    },
  );
  return server;
}
