/**
 * bench/proxy: what does mcp-proxy (mcp-services/proxy) cost next to the same stdio MCP server
 * driven directly over stdio, measured in the same run? See bench/proxy/README.md and the
 * "Proxy" section of docs/performance.md.
 *
 *   node bench/proxy/run.ts [--duration 8] [--warmup 2] [--sessions 10] [--idle 20]
 *                           [--concurrency 1] [--profile <dir>]
 *
 * The server is @modelcontextprotocol/server-everything (stdio). The proxy runs as in production,
 * `node mcp-services/proxy/src/main.ts -- node <server> stdio`, in its own process on 127.0.0.1.
 * Four figures, each for the proxy and for direct stdio: sessions opened and closed per second,
 * tools/call round trips per second through one session and across many, and resident memory
 * per idle session. Then MCP 2026-07-28 through the proxy: tools/call per second for stateless
 * clients (one user each, served by their pooled child) against the 2025-11-25 sessions above,
 * and the pool's memory per active user. The clients are small raw ones (below), the same on both sides, so that the
 * difference is the proxy and HTTP, not a client library; the protocol is the real one
 * (initialize handshake, MCP-Protocol-Version and Mcp-Session-Id). Every process started is
 * stopped on the way out, also on failure and Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { cpuOf as procCpu, loadLine, machineBusy, positiveOption } from '../proc.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROXY_MAIN = fileURLToPath(new URL('../../mcp-services/proxy/src/main.ts', import.meta.url));
const SERVER = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url),
);
const SERVER_ARGS = [SERVER, 'stdio'];
const PROTOCOL_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
const MESSAGE = 'hello';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    sessions: { type: 'string', default: '10' },
    idle: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '1' },
    profile: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node bench/proxy/run.ts [--duration s] [--warmup s] [--sessions n] [--idle n] [--concurrency n]');
  console.log('                        [--profile dir]   (see bench/proxy/README.md)');
  process.exit(0);
}
const positive = (name: keyof typeof args): number => positiveOption(args, name);
const opts = {
  duration: positive('duration'),
  warmup: positive('warmup'),
  sessions: positive('sessions'),
  idle: positive('idle'),
  concurrency: positive('concurrency'),
};

// ---- processes, and stopping every one of them ----

/** Stdio servers the bench spawned itself (the direct baseline), until they have exited. */
const direct = new Set<ChildProcess>();
let proxyProcess: ChildProcess | undefined;

function spawnServer(): ChildProcess {
  const child = spawn(process.execPath, SERVER_ARGS, { cwd: ROOT, stdio: ['pipe', 'pipe', 'ignore'] });
  direct.add(child);
  child.once('exit', () => direct.delete(child));
  child.stdin!.on('error', () => {}); // EPIPE if it died: its exit is what counts
  return child;
}

async function stopProxy(): Promise<void> {
  const child = proxyProcess;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM'); // the proxy ends every session and waits for its servers, then exits
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function stopDirect(): Promise<void> {
  const all = [...direct];
  for (const child of all) child.stdin!.end();
  const timer = setTimeout(() => all.forEach((c) => c.kill('SIGKILL')), 5000);
  await waitUntil(() => direct.size === 0, 10_000);
  clearTimeout(timer);
}

/** Set on SIGINT/SIGTERM: what fails after it is the stopping, not worth reporting. */
let interrupted = false;

async function cleanup(): Promise<void> {
  await Promise.all([stopProxy(), stopDirect()]).catch((err: unknown) => console.error(err));
}
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping everything started`);
    void cleanup().finally(() => process.exit(code));
  });
}
// Last resort, whatever way this process ends: a SIGKILLed proxy's servers see stdin close and exit.
process.on('exit', () => {
  for (const child of [proxyProcess, ...direct]) if (child?.exitCode === null) child.kill('SIGKILL');
});

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for processes to exit');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts the proxy around the server on a free port of 127.0.0.1 and returns its /mcp URL. */
async function startProxy(maxSessions: number): Promise<string> {
  const profile = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
  const child = spawn(process.execPath, [...profile, PROXY_MAIN, '--', 'node', ...SERVER_ARGS], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      MCP_SERVICE_NAME: 'proxy-bench',
      MCP_PROXY_MAX_SESSIONS: String(maxSessions),
      MCP_PROXY_MAX_SESSIONS_PER_USER: String(maxSessions),
      MCP_PROXY_LOG_LEVEL: 'info', // as deployed: a line per session started and ended
    },
  });
  proxyProcess = child;
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stderr!.on('data', keep);
  return new Promise((resolve, reject) => {
    let listening = false;
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (listening) return;
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.includes('"listening"'));
      if (!line) return;
      listening = true;
      resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the proxy exited (${code}):\n${output}`)));
  });
}

// ---- /proc: CPU and memory of processes (Linux) ----

/** CPU seconds of a process: its own, and that of its exited (reaped) children. */
const cpuOf = (pid: number | 'self') => procCpu(pid) ?? { own: 0, reaped: 0 }; // 0: exited between listing and reading

/** Live children of a process (found by their parent pid in /proc). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** kB of a `Name:  123 kB` line of a /proc file (0 when the process is gone). */
function kB(path: string, name: string): number {
  try {
    return Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(path, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
const rss = (pid: number) => kB(`/proc/${pid}/status`, 'VmRSS');
const pss = (pid: number) => kB(`/proc/${pid}/smaps_rollup`, 'Pss');

/** CPU seconds so far. */
interface Cpu {
  /** The proxy process itself. */
  proxy: number;
  /** The stdio servers: the proxy's children, or this process's, live and exited. */
  servers: number;
  /** This process: the clients. */
  bench: number;
  /** The whole machine (to tell what else ran meanwhile). */
  machine: number;
}

function cpuNow(side: Side): Cpu {
  const self = cpuOf('self');
  if (side === 'direct') {
    // This process's reaped children are the direct servers (the proxy runs till the end).
    const live = [...direct].reduce((sum, c) => sum + (c.pid ? cpuOf(c.pid).own : 0), 0);
    return { proxy: 0, servers: self.reaped + live, bench: self.own, machine: machineBusy() };
  }
  const pid = proxyProcess!.pid!;
  const proxy = cpuOf(pid);
  const live = childrenOf(pid).reduce((sum, p) => sum + cpuOf(p).own, 0);
  return { proxy: proxy.own, servers: proxy.reaped + live, bench: self.own, machine: machineBusy() };
}

// ---- the clients: raw, and the same work on both sides ----

type Side = 'proxy' | 'direct';

interface JsonRpcResponse {
  id: number;
  result?: unknown;
  error?: { code: number; message: string };
}

interface Connection {
  request(method: string, params: object): Promise<unknown>;
  notify(method: string): Promise<void>;
  close(): Promise<void>;
}

const INITIALIZE = {
  protocolVersion: PROTOCOL_VERSION,
  capabilities: {},
  clientInfo: { name: 'bench-proxy', version: '1.0.0' },
};

function unwrap(response: JsonRpcResponse | undefined, method: string): unknown {
  if (!response) throw new Error(`${method}: no response`);
  if (response.error) throw new Error(`${method}: error ${response.error.code} ${response.error.message}`);
  return response.result;
}

/** One MCP session over Streamable HTTP: POSTs answered on an SSE stream, as the proxy does. */
const agent = new Agent({ keepAlive: true });
let nextId = 1;

function post(url: URL, headers: Record<string, string>, method: 'POST' | 'DELETE', body?: string) {
  return new Promise<{ status: number; sessionId?: string; text: string }>((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const sessionId = res.headers['mcp-session-id'];
        resolve({ status: res.statusCode!, sessionId: typeof sessionId === 'string' ? sessionId : undefined, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openHttp(url: URL): Promise<Connection> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  async function send(message: object, id?: number): Promise<JsonRpcResponse | undefined> {
    const res = await post(url, headers, 'POST', JSON.stringify({ jsonrpc: '2.0', ...message }));
    if (id === undefined) {
      if (res.status !== 202) throw new Error(`notification: HTTP ${res.status} ${res.text}`);
      return undefined;
    }
    if (res.status !== 200) throw new Error(`request: HTTP ${res.status} ${res.text}`);
    if (res.sessionId) headers['mcp-session-id'] = res.sessionId;
    // SSE: `event: message` / `data: {…}` blocks; the response is the one with our id. (The
    // stream's first event, the priming one of resumable streams, has an id and empty data.)
    for (const line of res.text.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: ') continue;
      const message = JSON.parse(line.slice(6)) as JsonRpcResponse;
      if (message.id === id) return message;
    }
    return undefined;
  }
  const connection: Connection = {
    async request(method, params) {
      const id = nextId++;
      return unwrap(await send({ id, method, params }, id), method);
    },
    async notify(method) {
      await send({ method });
    },
    async close() {
      const res = await post(url, headers, 'DELETE');
      if (res.status !== 200) throw new Error(`DELETE: HTTP ${res.status} ${res.text}`);
    },
  };
  const init = (await connection.request('initialize', INITIALIZE)) as { protocolVersion: string };
  if (!headers['mcp-session-id']) throw new Error('initialize: no Mcp-Session-Id');
  headers['mcp-protocol-version'] = init.protocolVersion;
  await connection.notify('notifications/initialized');
  return connection;
}

/**
 * A client of MCP 2026-07-28 (issue 12): no initialize and no session; each request stands alone
 * with the `_meta` envelope and the Mcp-Method / Mcp-Name headers, as the gateway's edge passes it
 * with the user's X-User-Id. Served by the proxy's modern path from that user's pooled child.
 */
async function openModern(url: URL, user: string): Promise<Connection> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_VERSION,
    'x-user-id': user,
  };
  const envelope = {
    'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
    'io.modelcontextprotocol/clientInfo': { name: 'bench-proxy', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const connection: Connection = {
    async request(method, params) {
      const id = nextId++;
      const name = (params as { name?: string }).name;
      const res = await post(
        url,
        { ...headers, 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}) },
        'POST',
        JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope } }),
      );
      if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${res.text}`);
      // One JSON body, or an event stream whose data line with our id is the answer.
      const lines = res.text.startsWith('{')
        ? [res.text]
        : res.text.split('\n').filter((l) => l.startsWith('data: ') && l !== 'data: ');
      for (const line of lines) {
        const message = JSON.parse(line.replace(/^data: /, '')) as JsonRpcResponse;
        if (message.id === id) return unwrap(message, method);
      }
      return unwrap(undefined, method);
    },
    async notify() {},
    async close() {},
  };
  await connection.request('server/discover', {});
  return connection;
}

/** One MCP session over stdio with a server this process spawned: newline-delimited JSON-RPC. */
async function openStdio(): Promise<Connection> {
  const child = spawnServer();
  const waiting = new Map<number, { resolve: (r: JsonRpcResponse) => void; reject: (e: Error) => void }>();
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const lines = (buffered + text).split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      const message = JSON.parse(line) as JsonRpcResponse;
      if (typeof message.id !== 'number' || 'method' in message) continue; // notifications, server requests
      waiting.get(message.id)?.resolve(message);
      waiting.delete(message.id);
    }
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`the stdio server exited (${code})`));
  });
  const write = (message: object) => child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', ...message }) + '\n');
  const connection: Connection = {
    async request(method, params) {
      const id = nextId++;
      const response = new Promise<JsonRpcResponse>((resolve, reject) => waiting.set(id, { resolve, reject }));
      write({ id, method, params });
      return unwrap(await response, method);
    },
    async notify(method) {
      write({ method });
    },
    async close() {
      child.stdin!.end(); // the stdio shutdown: the server exits once its input is closed
    },
  };
  await connection.request('initialize', INITIALIZE);
  await connection.notify('notifications/initialized');
  return connection;
}

async function callEcho(connection: Connection): Promise<void> {
  const result = (await connection.request('tools/call', { name: 'echo', arguments: { message: MESSAGE } })) as {
    content: { text: string }[];
  };
  if (result.content[0]?.text !== `Echo: ${MESSAGE}`) throw new Error(`echo answered ${JSON.stringify(result)}`);
}

// ---- measuring ----

interface Measured {
  ops: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  /** CPU ms per operation. */
  cpu: Omit<Cpu, 'machine'>;
  /** Share of the machine's CPU used by other processes than the bench's own meanwhile, %. */
  othersPercent: number;
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * `workers` loops doing `op` one after another, first for the warm-up (not counted), then for
 * the measured duration; CPU is read after `settle` (e.g. until the servers of ended sessions
 * have exited, so that their CPU is counted).
 */
async function measure(
  side: Side,
  workers: number,
  op: (worker: number) => Promise<void>,
  settle: () => Promise<void> = async () => {},
): Promise<Measured> {
  const run = async (seconds: number, latencies?: number[]) => {
    const deadline = performance.now() + seconds * 1000;
    const loop = async (worker: number) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await op(worker);
        latencies?.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  };
  await run(opts.warmup);
  await settle();
  const latencies: number[] = [];
  const before = cpuNow(side);
  const started = performance.now();
  await run(opts.duration, latencies);
  const seconds = (performance.now() - started) / 1000;
  await settle();
  const after = cpuNow(side);
  const between = (performance.now() - started) / 1000; // the snapshots' interval, settling included
  const ops = latencies.length;
  latencies.sort((a, b) => a - b);
  const delta = (k: keyof Cpu) => after[k] - before[k];
  const per = (k: keyof Cpu) => (delta(k) * 1000) / ops;
  const others = delta('machine') - delta('proxy') - delta('servers') - delta('bench');
  return {
    ops,
    seconds,
    rate: ops / seconds,
    p50ms: quantile(latencies, 0.5),
    p99ms: quantile(latencies, 0.99),
    cpu: { proxy: per('proxy'), servers: per('servers'), bench: per('bench') },
    othersPercent: Math.max(0, (100 * others) / (between * availableParallelism())),
  };
}

/** Resident memory of a set of processes, kB. */
const memoryOf = (pids: number[]) => ({
  rss: pids.reduce((sum, p) => sum + rss(p), 0),
  pss: pids.reduce((sum, p) => sum + pss(p), 0),
});

const proxyTree = (): number[] => [proxyProcess!.pid!, ...childrenOf(proxyProcess!.pid!)];

async function idleMemory(side: Side, url: URL): Promise<{ rss: number; pss: number }> {
  const base = side === 'proxy' ? memoryOf(proxyTree()) : { rss: 0, pss: 0 };
  const open: Connection[] = [];
  for (let i = 0; i < opts.idle; i++) open.push(side === 'proxy' ? await openHttp(url) : await openStdio());
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the servers' post-initialize timers
  const pids = side === 'proxy' ? proxyTree() : [...direct].map((c) => c.pid!);
  const loaded = memoryOf(pids);
  await Promise.all(open.map((c) => c.close()));
  return { rss: (loaded.rss - base.rss) / opts.idle, pss: (loaded.pss - base.pss) / opts.idle };
}

// ---- output ----

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

const num = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

function describeMachine(): void {
  const server = JSON.parse(
    readFileSync(
      new URL('../../node_modules/@modelcontextprotocol/server-everything/package.json', import.meta.url),
      'utf8',
    ),
  ) as { version: string };
  const repeat = ['node bench/proxy/run.ts', ...Object.entries(opts).map(([k, v]) => `--${k} ${v}`)];
  console.log(`date:     ${new Date().toISOString()}`);
  const memory = `${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  console.log(
    `machine:  ${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, ${memory}, Linux ${release()}`,
  );
  console.log(loadLine());
  console.log(
    `node:     ${process.version}; server: @modelcontextprotocol/server-everything ${server.version} (stdio)`,
  );
  console.log(`repeat:   ${repeat.join(' ')}`);
}

async function main(): Promise<void> {
  describeMachine();
  // Sessions, and the modern path's children: one per user of its measurements, kept until the end.
  const url = new URL(
    await startProxy(Math.max(opts.sessions, opts.idle, opts.concurrency) + opts.sessions + opts.idle + 11),
  );
  const proxyPid = proxyProcess!.pid!;
  const noServersLeft = {
    proxy: () => waitUntil(() => childrenOf(proxyPid).length === 0, 15_000),
    direct: () => waitUntil(() => direct.size === 0, 15_000),
  };

  // Before measuring: an official SDK client gets the echo through the proxy.
  const sdk = new Client({ name: 'bench-proxy-check', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url);
  await sdk.connect(transport);
  const checked = await sdk.callTool({ name: 'echo', arguments: { message: MESSAGE } });
  if ((checked.content as { text: string }[])[0]?.text !== `Echo: ${MESSAGE}`) throw new Error('the SDK check failed');
  await transport.terminateSession();
  await sdk.close();

  const step = (what: string) => console.log(`running:  ${what} (${opts.warmup} s warm-up, ${opts.duration} s)`);
  const open = (side: Side) => (side === 'proxy' ? openHttp(url) : openStdio());
  const results: Record<string, Record<Side, Measured>> = {};
  const sides: Side[] = ['direct', 'proxy'];

  // 1. Sessions: open (spawn + initialize), then close, `concurrency` at a time.
  results.sessions = {} as Record<Side, Measured>;
  for (const side of sides) {
    step(`sessions, ${side}`);
    const cycle = async () => (await open(side)).close();
    results.sessions[side] = await measure(side, opts.concurrency, cycle, noServersLeft[side]);
  }

  // 2 and 3. tools/call round trips, sequential in each session: through one, then through many.
  for (const [name, count] of [
    ['one', 1],
    ['many', opts.sessions],
  ] as const) {
    results[name] = {} as Record<Side, Measured>;
    for (const side of sides) {
      step(`tools/call, ${count} session(s), ${side}`);
      const connections = await Promise.all(Array.from({ length: count }, () => open(side)));
      results[name][side] = await measure(side, count, (w) => callEcho(connections[w]!));
      await Promise.all(connections.map((c) => c.close()));
      await noServersLeft[side]();
    }
  }

  // 4. Memory per idle session.
  console.log(`running:  ${opts.idle} idle sessions, direct and proxy`);
  const memory = { direct: await idleMemory('direct', url), proxy: await idleMemory('proxy', url) };
  await Promise.all([noServersLeft.direct(), noServersLeft.proxy()]);

  // 5. MCP 2026-07-28 through the proxy: stateless clients, each user served by their pooled
  // child; against the 2025-11-25 session figures above (the same proxy, the same run).
  const modern: Record<string, Measured> = {};
  for (const [name, count] of [
    ['one', 1],
    ['many', opts.sessions],
  ] as const) {
    step(`tools/call, ${count} stateless 2026-07-28 client(s), each its own user, proxy`);
    const clients = await Promise.all(Array.from({ length: count }, (_, i) => openModern(url, `bench:${name}-${i}`)));
    modern[name] = await measure('proxy', count, (w) => callEcho(clients[w]!));
  }
  console.log(`running:  ${opts.idle} users of the 2026-07-28 path, one call each`);
  const poolBase = memoryOf(proxyTree());
  for (let i = 0; i < opts.idle; i++) await callEcho(await openModern(url, `bench:idle-${i}`));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const poolLoaded = memoryOf(proxyTree());
  const pool = { rss: (poolLoaded.rss - poolBase.rss) / opts.idle, pss: (poolLoaded.pss - poolBase.pss) / opts.idle };

  // ---- the results ----
  const { sessions, one, many } = results as Record<string, Record<Side, Measured>>;
  const ratio = (p: number, d: number) => `${(p / d).toFixed(2)}x`;
  const rateRow = (what: string, r: Record<Side, Measured>, digits = 0) => [
    what,
    num(r.proxy.rate, digits),
    num(r.direct.rate, digits),
    ratio(r.proxy.rate, r.direct.rate),
  ];
  const mb = (kb: number) => num(kb / 1024, 1);
  console.log(`\n${opts.duration} s per measurement after ${opts.warmup} s warm-up; tool: everything's echo\n`);
  table(
    ['figure', 'proxy', 'direct stdio', 'proxy / direct'],
    [
      rateRow(`sessions opened + closed /s (${opts.concurrency} at a time)`, sessions!, 2),
      rateRow('tools/call /s, 1 session', one!),
      rateRow(`tools/call /s, ${opts.sessions} sessions`, many!),
      [
        `MB per idle session, VmRSS (${opts.idle})`,
        mb(memory.proxy.rss),
        mb(memory.direct.rss),
        ratio(memory.proxy.rss, memory.direct.rss),
      ],
      [
        `MB per idle session, PSS (${opts.idle})`,
        mb(memory.proxy.pss),
        mb(memory.direct.pss),
        ratio(memory.proxy.pss, memory.direct.pss),
      ],
    ],
  );
  console.log(`\nMCP 2026-07-28 through the proxy (stateless, no session) against 2025-11-25 with a session\n`);
  table(
    ['figure', '2026-07-28', '2025-11-25', '2026 / 2025'],
    [
      [
        'tools/call /s, 1 client',
        num(modern.one!.rate),
        num(one!.proxy.rate),
        ratio(modern.one!.rate, one!.proxy.rate),
      ],
      [
        `tools/call /s, ${opts.sessions} clients`,
        num(modern.many!.rate),
        num(many!.proxy.rate),
        ratio(modern.many!.rate, many!.proxy.rate),
      ],
      [
        `MB per active user (pool), VmRSS (${opts.idle})`,
        mb(pool.rss),
        mb(memory.proxy.rss),
        ratio(pool.rss, memory.proxy.rss),
      ],
      [
        `MB per active user (pool), PSS (${opts.idle})`,
        mb(pool.pss),
        mb(memory.proxy.pss),
        ratio(pool.pss, memory.proxy.pss),
      ],
    ],
  );
  console.log('\nwhere the time goes (CPU ms per operation: a session, or a call)\n');
  const detail: string[][] = [];
  for (const [what, r, digits] of [
    ['sessions', sessions!, 1],
    ['1 session', one!, 3],
    [`${opts.sessions} sessions`, many!, 3],
  ] as const) {
    for (const side of sides) {
      const m = r[side];
      detail.push([
        `${what}, ${side}`,
        String(m.ops),
        num(m.p50ms, 2),
        num(m.p99ms, 2),
        side === 'proxy' ? num(m.cpu.proxy, digits) : '',
        num(m.cpu.servers, digits),
        num(m.cpu.bench, digits),
        num(m.othersPercent),
      ]);
    }
  }
  for (const [what, m] of [
    ['1 client, 2026-07-28', modern.one!],
    [`${opts.sessions} clients, 2026-07-28`, modern.many!],
  ] as const) {
    detail.push([
      `${what}, proxy`,
      String(m.ops),
      num(m.p50ms, 2),
      num(m.p99ms, 2),
      num(m.cpu.proxy, 3),
      num(m.cpu.servers, 3),
      num(m.cpu.bench, 3),
      num(m.othersPercent),
    ]);
  }
  table(['measurement', 'ops', 'p50 ms', 'p99 ms', 'proxy CPU', 'servers CPU', 'bench CPU', 'others %'], detail);
  const noisy = Object.values(results).some((r) => sides.some((side) => r[side].othersPercent > 10));
  if (noisy)
    console.log('\nwarning: other processes used over 10 % of the machine during a measurement: figures are low');
}

try {
  await main();
} catch (err) {
  if (!interrupted) console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
} finally {
  await cleanup();
  if (args.profile) console.log(`\nprofile:  ${args.profile} (the proxy process, .cpuprofile)`);
}
