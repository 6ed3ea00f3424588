/**
 * The tmux service in-process, over Streamable HTTP with the official SDK client, driving the
 * real tmux. Each test user has a fresh random id, hence its own tmux server; afterAll kills them.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createServiceHandler } from '../../mcp-services/shared/http-service.ts';
import { createTmuxServer, tmuxOptionsFromEnv, type TmuxServiceOptions } from '../../mcp-services/tmux/src/server.ts';
import { socketName } from '../../mcp-services/tmux/src/tmux.ts';

const servers: Server[] = [];
const clients: Client[] = [];
const sockets = new Set<string>();
const scratch = mkdtempSync(join(tmpdir(), 'tmux-test-'));

async function start(options: TmuxServiceOptions): Promise<string> {
  const server = createServer(
    createServiceHandler({ name: 'tmux', stateful: false, create: () => createTmuxServer(options) }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

/** A client calling as `user` (a fresh random user when not given); `null` sends no identity. */
async function connect(url: string, user: string | null = `test-${randomUUID()}`) {
  if (user !== null) sockets.add(socketName(user));
  const headers: Record<string, string> = user === null ? {} : { 'X-User-Id': user };
  const client = new Client({ name: 'tmux-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  clients.push(client);
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const result = await client.callTool({ name, arguments: args });
    return { text: (result.content as { text: string }[])[0]?.text ?? '', isError: result.isError === true };
  };
  const sessionNames = async () => {
    const result = await call('list_sessions');
    expect(result.isError).toBe(false);
    return (JSON.parse(result.text) as { name: string }[]).map((s) => s.name).sort();
  };
  return { user, call, sessionNames };
}

/** capture_pane until the text shows up (at most ~5 s): what the pane holds by then. */
async function captureUntil(user: Awaited<ReturnType<typeof connect>>, session: string, wanted: string) {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const result = await user.call('capture_pane', { session });
    expect(result.isError).toBe(false);
    last = result.text;
    if (last.includes(wanted)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return last;
}

let url: string;
beforeAll(async () => {
  url = await start({ maxSessions: 3 });
});

afterAll(async () => {
  for (const client of clients) await client.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  const run = promisify(execFile);
  // tmux leaves its socket file behind when its server exits: remove those too.
  const socketDir = join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  for (const socket of sockets) {
    await run('tmux', ['-L', socket, 'kill-server']).catch(() => undefined);
    rmSync(join(socketDir, socket), { force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

test('create, send keys, capture them back, list, kill', async () => {
  const alice = await connect(url);
  expect(await alice.sessionNames()).toEqual([]);
  const created = await alice.call('create_session', { name: 'work', command: 'cat' });
  expect(created).toEqual({ isError: false, text: 'Created session "work" running: cat.' });
  const listed = JSON.parse((await alice.call('list_sessions')).text) as Record<string, unknown>[];
  expect(listed).toEqual([{ name: 'work', windows: 1, attached: false, created: expect.any(String) }]);
  expect(Date.now() - Date.parse(listed[0]?.created as string)).toBeLessThan(60_000);

  // Literal keys: a leading "-", quotes and tmux key names arrive as typed; cat echoes the line.
  const line = `-n 'hello' "world" $HOME Enter C-c ${randomUUID()}`;
  expect(await alice.call('send_keys', { session: 'work', keys: line, enter: true })).toMatchObject({ isError: false });
  const screen = await captureUntil(alice, 'work', `${line}\n${line}`);
  expect(screen).toContain(`${line}\n${line}`); // the terminal's echo, then cat's

  expect(await alice.call('kill_session', { session: 'work' })).toEqual({
    isError: false,
    text: 'Killed session "work".',
  });
  expect(await alice.sessionNames()).toEqual([]);
});

test('a shell session runs a command; capture_pane returns the last lines only', async () => {
  const bob = await connect(url);
  expect((await bob.call('create_session', { name: 'sh' })).isError).toBe(false);
  await bob.call('send_keys', { session: 'sh', keys: 'for i in $(seq 1 30); do echo line-$i; done' });
  await bob.call('send_keys', { session: 'sh', keys: '', enter: true });
  expect(await captureUntil(bob, 'sh', 'line-30\n')).toContain('line-30\n');
  const lastThree = await bob.call('capture_pane', { session: 'sh', lines: 3 });
  expect(lastThree.text.split('\n')).toHaveLength(3);
  expect(lastThree.text).toMatch(/^line-29\nline-30\n\S/); // the last two lines, then the prompt
});

test('two users never see each other’s sessions, even with the same names', async () => {
  const carol = await connect(url);
  const dave = await connect(url);
  await carol.call('create_session', { name: 'mine', command: 'cat' });
  await carol.call('create_session', { name: 'shared-name', command: 'cat' });
  await dave.call('create_session', { name: 'shared-name', command: 'cat' });
  expect(await carol.sessionNames()).toEqual(['mine', 'shared-name']);
  expect(await dave.sessionNames()).toEqual(['shared-name']);

  for (const [tool, args] of [
    ['send_keys', { session: 'mine', keys: 'x' }],
    ['capture_pane', { session: 'mine' }],
    ['kill_session', { session: 'mine' }],
  ] as const) {
    const result = await dave.call(tool, args);
    expect(result.isError).toBe(true);
    expect(result.text).toContain("can't find session: mine");
  }
  await dave.call('kill_session', { session: 'shared-name' });
  expect(await carol.sessionNames()).toEqual(['mine', 'shared-name']);
});

test('sessions are named exactly: no prefix match', async () => {
  const erin = await connect(url);
  await erin.call('create_session', { name: 'abc', command: 'cat' });
  const result = await erin.call('kill_session', { session: 'ab' });
  expect(result).toEqual({ isError: true, text: "can't find session: ab" });
  expect(await erin.sessionNames()).toEqual(['abc']);
});

test.each(['', 'a.b', 'a:b', 'has space', 'x'.repeat(65), 'émoji', '$(id)', 'a\tb'])(
  'the session name %j is refused',
  async (name) => {
    const frank = await connect(url);
    for (const [tool, args] of [
      ['create_session', { name }],
      ['send_keys', { session: name, keys: 'x' }],
      ['capture_pane', { session: name }],
      ['kill_session', { session: name }],
    ] as const) {
      const result = await frank.call(tool, args);
      expect(result.isError).toBe(true);
      expect(result.text).toContain('Session names are 1 to 64 letters');
    }
    expect(await frank.sessionNames()).toEqual([]);
  },
);

test('a name starting with "-" is a name, not an option', async () => {
  const ivan = await connect(url);
  expect((await ivan.call('create_session', { name: '-t', command: 'cat' })).isError).toBe(false);
  expect(await ivan.sessionNames()).toEqual(['-t']);
  await ivan.call('send_keys', { session: '-t', keys: 'dash', enter: true });
  expect(await captureUntil(ivan, '-t', 'dash\ndash')).toContain('dash\ndash');
  expect((await ivan.call('kill_session', { session: '-t' })).isError).toBe(false);
  expect(await ivan.sessionNames()).toEqual([]);
});

test('a request without X-User-Id is refused by every tool', async () => {
  const anonymous = await connect(url, null);
  for (const [tool, args] of [
    ['list_sessions', {}],
    ['create_session', { name: 'x' }],
    ['send_keys', { session: 'x', keys: 'y' }],
    ['capture_pane', { session: 'x' }],
    ['kill_session', { session: 'x' }],
  ] as const) {
    const result = await anonymous.call(tool, args);
    expect(result).toEqual({ isError: true, text: expect.stringContaining('No caller identity (X-User-Id)') });
  }
});

test('the session limit is enforced, also for concurrent creates; a killed session frees a place', async () => {
  const grace = await connect(url);
  const results = await Promise.all(
    ['s1', 's2', 's3', 's4', 's5'].map((name) => grace.call('create_session', { name, command: 'cat' })),
  );
  expect(results.filter((r) => r.isError)).toHaveLength(2);
  expect(results.find((r) => r.isError)?.text).toContain('Session limit reached: you have 3 sessions (at most 3)');
  expect(await grace.sessionNames()).toHaveLength(3);
  const [first] = await grace.sessionNames();
  await grace.call('kill_session', { session: first });
  expect((await grace.call('create_session', { name: 'again', command: 'cat' })).isError).toBe(false);
});

test('errors are tool errors: duplicates, unknown sessions, empty input', async () => {
  const heidi = await connect(url);
  await heidi.call('create_session', { name: 'one', command: 'cat' });
  expect(await heidi.call('create_session', { name: 'one' })).toEqual({
    isError: true,
    text: 'Session "one" already exists.',
  });
  expect(await heidi.call('send_keys', { session: 'one', keys: '' })).toMatchObject({
    isError: true,
    text: expect.stringContaining('Nothing to send'),
  });
  expect(await heidi.call('capture_pane', { session: 'one', lines: 2001 })).toMatchObject({ isError: true });
  expect(await heidi.call('capture_pane', { session: 'two' })).toMatchObject({ isError: true });
});

test('tmux missing or hanging: a clear tool error', async () => {
  const missing = await connect(await start({ maxSessions: 3, binary: 'tmux-not-installed-here' }));
  expect(await missing.call('list_sessions')).toEqual({
    isError: true,
    text: expect.stringContaining('install the Debian package tmux'),
  });
  const hanging = join(scratch, 'hanging-tmux');
  writeFileSync(hanging, '#!/bin/sh\nexec sleep 10\n');
  chmodSync(hanging, 0o755);
  const slow = await connect(await start({ maxSessions: 3, binary: hanging, timeoutMs: 300 }));
  expect(await slow.call('create_session', { name: 'x' })).toEqual({
    isError: true,
    text: 'tmux did not answer within 0.3 s.',
  });
});

test('MCP_TMUX_MAX_SESSIONS: default 10, a positive integer', () => {
  expect(tmuxOptionsFromEnv({})).toEqual({ maxSessions: 10 });
  expect(tmuxOptionsFromEnv({ MCP_TMUX_MAX_SESSIONS: ' 4 ' })).toEqual({ maxSessions: 4 });
  for (const bad of ['0', '-1', '2.5', 'ten']) {
    expect(() => tmuxOptionsFromEnv({ MCP_TMUX_MAX_SESSIONS: bad })).toThrow('MCP_TMUX_MAX_SESSIONS');
  }
});

test('socket names: per user, stable, no user input in them', () => {
  expect(socketName('github:1')).toBe(socketName('github:1'));
  expect(socketName('github:1')).not.toBe(socketName('github:2'));
  expect(socketName('../../etc; rm -rf /')).toMatch(/^mcpgw-[0-9a-f]{16}$/);
});
