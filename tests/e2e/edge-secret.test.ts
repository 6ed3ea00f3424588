/**
 * Black box, through `npm start`'s process: each MCP service it starts checks that a request
 * came through the edge (X-Gateway-Edge, mcp-services/shared/edge-guard.ts). A request sent
 * straight to a service's own port, with a forged X-User-Id, is refused; through the edge, with
 * a token, the same service answers, and never sees the header.
 */
import { serviceEdgeSecret } from '../../auth/src/edge/edge-secret.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { connectWithOAuth } from '../support/mcp-client.ts';
import { Person } from '../support/person.ts';
import { startStack, type Stack } from '../support/stack.ts';

const EDGE_SECRET = 'e2e-edge-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const FORBIDDEN = {
  jsonrpc: '2.0',
  error: { code: -32000, message: "Forbidden: this service only accepts requests through the gateway's edge" },
  id: null,
};
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'forger', version: '1' } },
};

let github: GitHubStandin;
let stack: Stack;
/** Each service's own port, from the `MCP service started` log lines. */
const ports = new Map<string, number>();

beforeAll(async () => {
  github = await startGitHubStandin();
  stack = await startStack({
    github,
    env: {
      EDGE_SECRET,
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      // A stdio server through the proxy.
      MCP_EVERYTHING_ENABLED: 'true',
    },
  });
  for (const line of stack.logs().filter((l) => l.msg === 'MCP service started')) {
    ports.set(line.mcpService as string, line.port as number);
  }
}, 60_000);
afterAll(async () => {
  expect(await stack?.stop()).toBe(0);
  await github?.stop();
});

function direct(service: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`http://127.0.0.1:${ports.get(service)}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(INITIALIZE),
  });
}

test('both services run on ports of their own', () => {
  expect([...ports.keys()].sort()).toEqual(['echo-stateful', 'everything']);
});

test.each(['echo-stateful', 'everything'])(
  '%s: a request straight to its port with a forged X-User-Id is refused (403)',
  async (service) => {
    const forgeries: Record<string, string>[] = [
      { 'X-User-Id': 'github:1001', 'X-User-Login': 'octocat' },
      { 'X-User-Id': 'github:1001', 'X-Gateway-Edge': 'forged-edge-value' },
      // Another service's secret is not this one's (each service knows only its own).
      { 'X-User-Id': 'github:1001', 'X-Gateway-Edge': serviceEdgeSecret(EDGE_SECRET, `${service}-other`) },
      // Nor is the gateway's root secret.
      { 'X-User-Id': 'github:1001', 'X-Gateway-Edge': EDGE_SECRET },
    ];
    for (const headers of forgeries) {
      const res = await direct(service, headers);
      expect(res.status).toBe(403);
      expect(res.headers.get('mcp-session-id')).toBeNull();
      expect(await res.json()).toEqual(FORBIDDEN);
    }
    // /health stays open for healthchecks.
    expect((await fetch(`http://127.0.0.1:${ports.get(service)}/health`)).status).toBe(200);
    // What the edge would add is what opens it: the secret derived for this service.
    const own = await direct(service, {
      'X-User-Id': 'github:1001',
      'X-Gateway-Edge': serviceEdgeSecret(EDGE_SECRET, service),
    });
    expect(own.status).toBe(200);
    await own.text();
  },
);

test('through the edge with a token: served; a client-sent X-Gateway-Edge is replaced; the service never sees it', async () => {
  const { client } = await connectWithOAuth(`${stack.url}/echo-stateful/mcp`, {
    person: new Person(stack.url, github),
    headers: { 'X-Gateway-Edge': 'forged-edge-value', 'X-User-Id': 'github:666' },
  });
  try {
    const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
    const seen = JSON.parse(result.content[0]!.text) as {
      identity: Record<string, string>;
      headers: Record<string, string>;
    };
    expect(seen.identity.id).toBe('github:1001');
    expect(seen.headers['x-gateway-edge']).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(serviceEdgeSecret(EDGE_SECRET, 'echo-stateful'));
    expect(JSON.stringify(seen)).not.toContain('forged-edge-value');
  } finally {
    await client.close();
  }
});

test('the refusals are logged, without any secret', () => {
  const output = stack.output();
  expect(output).toContain('request refused: not through the edge');
  for (const secret of [
    EDGE_SECRET,
    serviceEdgeSecret(EDGE_SECRET, 'echo-stateful'),
    serviceEdgeSecret(EDGE_SECRET, 'everything'),
  ]) {
    expect(output).not.toContain(secret);
  }
});
