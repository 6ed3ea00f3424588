/**
 * Resumable streams across a restart of the edge (issue 12): the events a stream carried are kept
 * by the service that sent them (mcp-services/shared/event-store.ts, per session), not by the
 * edge. So when the edge — a real Caddy, configured from the route table as by
 * `npm run start:caddy` (auth/src/edge/caddy.ts) — is stopped in the middle of a call and a new
 * one started, the client reconnects through the new edge with `Last-Event-ID` and receives
 * every event it missed, once, in order: the same session, at the same echo-stateful service,
 * behind a real auth service. (The Traefik model of tests/support/traefik-proxy.ts answers whole,
 * not streamed, so it cannot cut a stream.)
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serviceEdgeSecret } from '../../auth/src/edge/edge-secret.ts';
import { createEchoServer } from '../../mcp-services/shared/echo.ts';
import { createServiceHandler } from '../../mcp-services/shared/http-service.ts';
import { startAuth, type RunningAuth } from '../support/auth-server.ts';
import { runFlow } from '../support/flow.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { sseEvents, type SseEvent } from '../support/sse.ts';
import { freePort } from '../support/stack.ts';
import { pino } from 'pino';
import { findCaddy, startCaddy, type RunningCaddy } from '../../auth/src/edge/caddy.ts';

const EDGE_SECRET = randomBytes(32).toString('base64url');
const SERVICE = 'echo-stateful';

let github: GitHubStandin;
let auth: RunningAuth;
let service: Server;
let serviceUrl: string;
let edge: RunningCaddy;
let edgePort: number;

const startEdge = () => {
  const authAt = new URL(auth.url);
  const serviceAt = new URL(serviceUrl);
  const binary = findCaddy();
  if (!binary) throw new Error('caddy is not on PATH (apt-get install caddy; .ci/run installs it)');
  return startCaddy(
    binary,
    {
      listen: { host: '127.0.0.1', port: edgePort },
      publicUrl: `http://127.0.0.1:${edgePort}`,
      auth: { host: authAt.hostname, port: Number(authAt.port) },
      services: new Map([[SERVICE, { host: serviceAt.hostname, port: Number(serviceAt.port) }]]),
    },
    pino({ level: 'silent' }),
    () => undefined,
  );
};

beforeAll(async () => {
  github = await startGitHubStandin();
  service = createServer(
    createServiceHandler({
      name: SERVICE,
      stateful: true,
      create: () => createEchoServer(SERVICE, { stateful: true }),
      edgeSecret: serviceEdgeSecret(EDGE_SECRET, SERVICE),
    }),
  );
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
  edgePort = await freePort();
  auth = await startAuth({
    github,
    env: { PUBLIC_URL: `http://127.0.0.1:${edgePort}`, EDGE_SECRET, MCP_ECHO_STATEFUL_ENABLED: 'true' },
  });
  edge = await startEdge();
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await auth?.stop();
  await github?.stop();
  service?.closeAllConnections();
  service?.close();
});

test('a call whose stream the edge cut by restarting is resumed through the new edge, every event once, in order', async () => {
  const base = `http://127.0.0.1:${edgePort}`;
  const flow = await runFlow({ base, github, params: { resource: `${base}/${SERVICE}/mcp` } });
  const token = flow.token?.body.access_token as string;
  expect(token).toBeTruthy();
  const url = `${base}/${SERVICE}/mcp`;
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-11-25',
  };
  const post = (body: unknown, extra: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(url, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body), signal });
  const opened = await post({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'resume', version: '1' } },
  });
  expect(opened.status).toBe(200);
  await opened.text();
  const session = { 'mcp-session-id': opened.headers.get('mcp-session-id')! };
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text();

  // A call that waits at a gate, its first progress event received; then the edge goes away.
  const call = await post(
    {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'gate', arguments: { name: 'restart' }, _meta: { progressToken: 'r' } },
    },
    session,
  );
  const stream = sseEvents(call.body!);
  expect(((await stream.next()).value as SseEvent).id).toBeTruthy(); // the priming event
  const progress = (await stream.next()).value as SseEvent;
  expect(JSON.parse(progress.data)).toMatchObject({ method: 'notifications/progress' });
  await edge.stop();
  const cut = await stream.next().then(
    (r) => r.done,
    () => true,
  );
  expect(cut).toBe(true);

  // A new edge; the gate opens (through it); the client resumes after the last event it has.
  edge = await startEdge();
  const opening = await post(
    { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'open_gate', arguments: { name: 'restart' } } },
    session,
  );
  expect(opening.status).toBe(200);
  await opening.text();
  const done = new AbortController();
  const resumed = await fetch(url, {
    headers: { ...headers, ...session, 'last-event-id': progress.id! },
    signal: done.signal,
  });
  expect(resumed.status).toBe(200);
  const after: unknown[] = [];
  for await (const event of sseEvents(resumed.body!)) {
    after.push(JSON.parse(event.data));
    if ((after.at(-1) as { id?: number }).id === 3) break;
  }
  done.abort();
  // Every event after the last one received, once, in order: the call's answer is the last.
  expect(after.at(-1)).toMatchObject({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text' }] } });
  expect(after.filter((m) => (m as { id?: number }).id === 3)).toHaveLength(1);
  expect(JSON.stringify(after)).not.toContain(progress.data);
}, 60_000);
