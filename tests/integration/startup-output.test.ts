/**
 * What `npm start` prints: on a terminal, readable log lines (pino-pretty) and the banner with the
 * URLs and the local password last, once every service is up; JSON lines everywhere else, with the
 * banner still last. The terminal is a real pseudo-terminal (util-linux `script`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../../auth/src/http/free-port.ts';

interface Started {
  child: ChildProcess;
  output: () => string;
}

async function startEmbedded(env: Record<string, string>, terminal: boolean): Promise<Started> {
  const port = await freePort();
  const command = [process.execPath, 'auth/src/embedded.ts'];
  const child = spawn(
    terminal ? 'script' : command[0]!,
    terminal ? ['-qfec', command.join(' '), '/dev/null'] : command.slice(1),
    {
      env: {
        PATH: process.env.PATH!,
        HOME: process.env.HOME!,
        DOTENV_CONFIG_PATH: '/nonexistent',
        PORT: String(port),
        PUBLIC_URL: `http://localhost:${port}`,
        MCP_ECHO_STATEFUL_ENABLED: 'true',
        MCP_ECHO_STATELESS_ENABLED: 'true',
        TERM: 'xterm',
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes('(valid until the gateway stops)')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`no banner:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Anything late (a service's own startup lines) would arrive now.
  await new Promise((resolve) => setTimeout(resolve, 700));
  return { child, output: () => out.replaceAll('\r\n', '\n') };
}

async function stop(started: Started): Promise<void> {
  const exited = once(started.child, 'exit');
  // Under `script`, SIGINT reaches the gateway as a terminal's Ctrl-C does; without it, directly.
  started.child.kill('SIGINT');
  const timer = setTimeout(() => started.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The output from the banner's first line to the end. */
const fromBanner = (out: string): string => out.slice(out.indexOf('\n  MCP OAuth Gateway on '));
const ANSI = /\x1b\[[0-9;]*m/g; // eslint-disable-line no-control-regex

test('on a terminal: readable lines, then the banner last', async () => {
  const started = await startEmbedded({}, true);
  try {
    const out = started.output();
    const plain = out.replace(ANSI, '');
    expect(plain).not.toMatch(/^\{"level"/m); // no JSON line
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[echo-stateful\] MCP service started$/m);
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway listening$/m);
    const banner = fromBanner(plain);
    expect(banner).toMatch(/^\n {2}MCP OAuth Gateway on http:\/\/localhost:\d+\n/);
    expect(banner).toContain('echo-stateful');
    expect(banner).toMatch(/Sign in as "local" with the password: \S+/);
    // Nothing after the banner: no log line interleaved or following it.
    expect(banner).not.toMatch(/INFO|WARN|\{"level"/);
    expect(out).toMatch(ANSI); // colours, on a terminal
  } finally {
    await stop(started);
  }
});

test('not on a terminal: JSON lines, then the banner last', async () => {
  const started = await startEmbedded({}, false);
  try {
    const out = started.output();
    const before = out.slice(0, out.indexOf('\n  MCP OAuth Gateway on '));
    const lines = before.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('gateway listening');
    expect(fromBanner(out)).not.toMatch(/\{"level"/);
    expect(out).not.toMatch(ANSI);
  } finally {
    await stop(started);
  }
});

test('LOG_FORMAT overrides the terminal: json on a terminal stays JSON', async () => {
  const started = await startEmbedded({ LOG_FORMAT: 'json' }, true);
  try {
    const out = started.output();
    expect(out).toMatch(/^\{"level":30,.*"msg":"gateway listening"\}$/m);
    expect(fromBanner(out)).not.toMatch(/\{"level"/);
  } finally {
    await stop(started);
  }
});

test('a service logging in JSON appears as a line of the gateway log, at its level, with its fields', async () => {
  // The proxy (everything) logs `listening` at startup with its own pino.
  const started = await startEmbedded({ MCP_EVERYTHING_ENABLED: 'true' }, false);
  try {
    const lines = started
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 30, component: 'mcp-proxy', mcpService: 'everything', msg: 'listening' }),
    );
    // No service line is kept as an escaped JSON string inside another line.
    expect(lines.filter((l) => String(l.output ?? '').startsWith('{'))).toEqual([]);
  } finally {
    await stop(started);
  }
});
