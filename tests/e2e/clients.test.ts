/**
 * Real MCP clients, unmodified, through `npm start`'s process: mcp-remote (the stdio bridge
 * Claude Desktop and others run) and the MCP Inspector CLI. Each does its own OAuth: discovery,
 * dynamic registration, PKCE, its own loopback callback listener. Their "browser" is
 * tests/support/follow-authorization.ts (headless Chromium clicking through the pages), reached
 * the way a desktop reaches one: both open the authorization URL with the `open` package, whose
 * bundled xdg-open runs `$BROWSER <url>`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserServer } from 'playwright-core';
import { launchBrowserServer } from '../support/browser.ts';
import { startGitHubStandin, type GitHubStandin } from '../support/github-standin.ts';
import { freePort, startStack, type Stack } from '../support/stack.ts';

const TIMEOUT = 120_000;

const root = process.cwd();
const MCP_REMOTE = resolve(root, 'node_modules/.bin/mcp-remote');
const INSPECTOR = resolve(root, 'node_modules/.bin/mcp-inspector');
// The $BROWSER docs/clients.md shows: one executable path, on a Node that runs TypeScript.
const BROWSER = resolve(root, 'tests/support/follow-authorization.sh');

let github: GitHubStandin;
let stack: Stack;
let dir: string;
let browser: string;
let followLog: string;
/** One Chromium that every $BROWSER run connects to, rather than one launched per login. */
let chromium: BrowserServer;
const children = new Set<ChildProcess>();
const transports = new Set<StdioClientTransport>();

beforeAll(async () => {
  github = await startGitHubStandin();
  stack = await startStack({
    github,
    readme: true,
    env: { MCP_ECHO_STATEFUL_ENABLED: 'true', MCP_EVERYTHING_ENABLED: 'true', MCP_FILESYSTEM_ENABLED: 'true' },
  });
  dir = mkdtempSync(join(tmpdir(), 'mcp-clients-'));
  followLog = join(dir, 'follow-authorization.log');
  writeFileSync(followLog, '');
  // xdg-open runs `$browser "$url"` with $browser unquoted: one executable path, no spaces.
  expect(BROWSER).not.toMatch(/[\s:]/);
  browser = BROWSER;
  chromium = await launchBrowserServer();
}, TIMEOUT);

afterAll(async () => {
  for (const transport of transports) await transport.close().catch(() => undefined);
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const transport of transports) {
    const pid = transport.pid;
    if (pid !== null && alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await stack?.stop();
  await github?.stop();
  await chromium?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, TIMEOUT);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A fresh HOME per client run: no tokens or registrations carried over between runs. The hook
 * connects to the file's Chromium (BROWSER_WS_ENDPOINT), except for docs/clients.md's recipes,
 * run as written: there it launches its own.
 */
function clientEnv(name: string, options: { asDocumented?: boolean } = {}): Record<string, string> {
  const home = mkdtempSync(join(dir, `${name}-`));
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    // Headless: no desktop, so xdg-open falls through to $BROWSER.
    BROWSER: browser,
    FOLLOW_LOG: followLog,
    ...(options.asDocumented ? {} : { BROWSER_WS_ENDPOINT: chromium.wsEndpoint() }),
  };
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The gateway's log lines at warn level and above (pino: 40+), for failure messages. */
function gatewayTrouble(): string {
  return stack
    .logs()
    .filter((l) => Number(l.level) >= 40)
    .map((l) => JSON.stringify(l))
    .join('\n')
    .slice(-6000);
}

/** Runs `step`; on failure, the error carries what the client and the browser hook said. */
async function explained<T>(stderr: () => string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      `${message}\n--- client stderr ---\n${stderr().slice(-8000)}\n--- browser hook ---\n${readFileSync(followLog, 'utf8').slice(-4000)}` +
        `\n--- gateway warnings and errors ---\n${gatewayTrouble()}`,
      { cause: err },
    );
  }
}

const text = (result: unknown) => (result as { content: { type: string; text: string }[] }).content[0]!.text;

async function viaMcpRemote(service: string, extraArgs: string[] = []) {
  const env = clientEnv(`mcp-remote-${service}${extraArgs.length ? '-modern' : ''}`);
  const transport = new StdioClientTransport({
    command: MCP_REMOTE,
    args: [`${stack.url}/${service}/mcp`, ...extraArgs],
    env: { ...env, MCP_REMOTE_CONFIG_DIR: join(env.HOME!, '.mcp-auth') },
    stderr: 'pipe',
  });
  transports.add(transport);
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'clients-e2e', version: '1.0.0' });
  await explained(
    () => stderr,
    () => within(60_000, `mcp-remote ${service}: initialize`, client.connect(transport, { timeout: 60_000 })),
  );
  return { client, transport, stderr: () => stderr };
}

async function closeMcpRemote(client: Client, transport: StdioClientTransport) {
  const pid = transport.pid;
  await within(10_000, 'mcp-remote: close', client.close());
  // The SDK ends stdin, then signals; mcp-remote must be gone.
  const deadline = Date.now() + 5_000;
  while (pid !== null && alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(pid !== null && alive(pid)).toBe(false);
  transports.delete(transport);
}

test(
  'mcp-remote (headless, OAuth through $BROWSER) → echo-stateful: initialize, list tools, call echo',
  async () => {
    const before = readFileSync(followLog, 'utf8').length;
    const { client, transport, stderr } = await viaMcpRemote('echo-stateful');
    await explained(stderr, async () => {
      expect(client.getServerVersion()?.name).toBeTruthy();
      const { tools } = await client.listTools(undefined, { timeout: 15_000 });
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'whoami']));
      const echoed = await client.callTool(
        { name: 'echo', arguments: { message: 'héllo via mcp-remote' } },
        undefined,
        {
          timeout: 15_000,
        },
      );
      expect(text(echoed)).toBe('héllo via mcp-remote');
      const who = JSON.parse(text(await client.callTool({ name: 'whoami', arguments: {} }))) as {
        identity: Record<string, string>;
      };
      expect(who.identity.login).toBe('octocat');
    });
    // The hook walked the gateway's pages and delivered the code to mcp-remote's listener. It
    // logs that after closing its browser, which may be after mcp-remote already went on.
    const hookSaid = async (text: string) => {
      for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
        if (readFileSync(followLog, 'utf8').slice(before).includes(text)) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    };
    expect(await hookSaid('pages: login → github → consent; callback page loaded')).toBe(true);
    await closeMcpRemote(client, transport);
  },
  TIMEOUT,
);

test(
  'mcp-remote (headless, OAuth through $BROWSER) → everything: list tools, call echo and get-sum',
  async () => {
    const { client, transport, stderr } = await viaMcpRemote('everything');
    await explained(stderr, async () => {
      const { tools } = await client.listTools(undefined, { timeout: 15_000 });
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'get-sum']));
      const echoed = await client.callTool({ name: 'echo', arguments: { message: 'hi' } }, undefined, {
        timeout: 15_000,
      });
      expect(text(echoed)).toContain('hi');
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }, undefined, { timeout: 15_000 });
      expect(text(sum)).toContain('5');
    });
    await closeMcpRemote(client, transport);
  },
  TIMEOUT,
);

test(
  'mcp-remote --protocol auto (MCP 2026-07-28 towards the gateway; it has no option to pin it) → echo-stateful, everything and filesystem (stdio, through the proxy)',
  async () => {
    const echo = await viaMcpRemote('echo-stateful', ['--protocol', 'auto']);
    await explained(echo.stderr, async () => {
      const who = JSON.parse(text(await echo.client.callTool({ name: 'whoami', arguments: {} }))) as {
        identity: Record<string, string>;
        headers: Record<string, string>;
      };
      expect(who.identity.login).toBe('octocat');
      // mcp-remote spoke the modern era to the gateway: no session, the 2026-07-28 header.
      expect(who.headers['mcp-protocol-version']).toBe('2026-07-28');
      expect(who.headers['mcp-session-id']).toBeUndefined();
    });
    await closeMcpRemote(echo.client, echo.transport);

    const everything = await viaMcpRemote('everything', ['--protocol', 'auto']);
    await explained(everything.stderr, async () => {
      const sum = await everything.client.callTool({ name: 'get-sum', arguments: { a: 4, b: 5 } }, undefined, {
        timeout: 15_000,
      });
      expect(text(sum)).toContain('9');
      // Served by a child the proxy initialized itself for this user (its modern path).
      expect(stack.logs().some((l) => l.msg === 'modern child started')).toBe(true);
    });
    await closeMcpRemote(everything.client, everything.transport);

    const filesystem = await viaMcpRemote('filesystem', ['--protocol', 'auto']);
    await explained(filesystem.stderr, async () => {
      const { tools } = await filesystem.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['list_allowed_directories', 'write_file']));
      const allowed = await filesystem.client.callTool({ name: 'list_allowed_directories', arguments: {} });
      expect(text(allowed)).toContain('filesystem');
      // The modern era at the gateway: the proxy's children for 2026-07-28 clients served it.
      expect(stack.logs().filter((l) => l.msg === 'modern child started').length).toBeGreaterThanOrEqual(2);
    });
    await closeMcpRemote(filesystem.client, filesystem.transport);
  },
  TIMEOUT,
);

/**
 * One Inspector CLI run. Interactive OAuth in CLI mode needs a TTY or MCP_AUTO_OPEN_ENABLED=true;
 * secrets in memory (no keychain here, and nothing left behind); a free callback port rather
 * than the fixed default 6276.
 */
async function inspector(
  service: string,
  args: string[],
  options: { base?: string; env?: Record<string, string>; home?: string; login?: boolean; asDocumented?: boolean } = {},
): Promise<unknown> {
  const env = {
    ...clientEnv(`inspector-${service}`, { asDocumented: options.asDocumented }),
    ...(options.home ? { HOME: options.home } : {}),
  };
  const callback = `http://127.0.0.1:${await freePort()}/oauth/callback`;
  const target = args.includes('--server-url') ? [] : [`${options.base ?? stack.url}/${service}/mcp`];
  const child = spawn(
    INSPECTOR,
    ['--cli', ...target, '--transport', 'http', '--callback-url', callback, '--format', 'json', ...args],
    {
      env: { ...env, MCP_AUTO_OPEN_ENABLED: 'true', MCP_INSPECTOR_SECRET_STORE: 'memory', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return explained(
    () => stderr,
    async () => {
      let code: number | null;
      try {
        [code] = await within(60_000, `inspector ${service} ${args.join(' ')}`, exited);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      }
      children.delete(child);
      if (code !== 0) throw new Error(`inspector ${args.join(' ')} exited ${code}; stdout: ${stdout}`);
      if (options.login !== false) expect(stderr).toContain('Authorization complete.');
      else expect(stderr).not.toContain('Please navigate to');
      return (JSON.parse(stdout) as { result: unknown }).result;
    },
  );
}

test(
  'MCP Inspector CLI (OAuth through $BROWSER) → echo-stateful and everything: list tools, call a tool',
  async () => {
    const names = (result: unknown) => (result as { tools: { name: string }[] }).tools.map((t) => t.name);

    expect(names(await inspector('echo-stateful', ['--method', 'tools/list']))).toEqual(
      expect.arrayContaining(['echo', 'whoami']),
    );
    const echoed = await inspector('echo-stateful', [
      '--method',
      'tools/call',
      '--tool-name',
      'echo',
      '--tool-arg',
      'message=hello-inspector',
    ]);
    expect(text(echoed)).toBe('hello-inspector');

    expect(names(await inspector('everything', ['--method', 'tools/list']))).toEqual(
      expect.arrayContaining(['echo', 'get-sum']),
    );
    const sum = await inspector('everything', [
      '--method',
      'tools/call',
      '--tool-name',
      'get-sum',
      '--tool-args-json',
      '{"a":2,"b":3}',
    ]);
    expect(text(sum)).toBe('The sum of 2 and 3 is 5.');
  },
  TIMEOUT,
);

test(
  'MCP Inspector CLI --protocol-era modern (MCP 2026-07-28, no session) → echo-stateful, everything and filesystem (stdio, through the proxy)',
  async () => {
    const modern = ['--protocol-era', 'modern'];
    const names = (result: unknown) => (result as { tools: { name: string }[] }).tools.map((t) => t.name);
    const echoed = await inspector('echo-stateful', [
      ...modern,
      '--method',
      'tools/call',
      '--tool-name',
      'echo',
      '--tool-arg',
      'message=hello-modern',
    ]);
    expect(text(echoed)).toBe('hello-modern');
    expect(names(await inspector('everything', [...modern, '--method', 'tools/list']))).toEqual(
      expect.arrayContaining(['echo', 'get-sum']),
    );
    const sum = await inspector('everything', [
      ...modern,
      '--method',
      'tools/call',
      '--tool-name',
      'get-sum',
      '--tool-args-json',
      '{"a":20,"b":22}',
    ]);
    expect(text(sum)).toBe('The sum of 20 and 22 is 42.');
    const allowed = await inspector('filesystem', [
      ...modern,
      '--method',
      'tools/call',
      '--tool-name',
      'list_allowed_directories',
    ]);
    expect(text(allowed)).toContain('filesystem');
  },
  TIMEOUT,
);

describe('the quick start (cp .env.example .env && npm start: no GitHub app, one local user)', () => {
  let quick: Stack;
  let password: string;
  beforeAll(async () => {
    quick = await startStack({ readme: true, env: { MCP_ECHO_STATEFUL_ENABLED: 'true' } });
    // The banner comes once the logs are flushed, after "gateway listening".
    password = (await quick.waitForOutput(/Sign in as "local" with the password: (\S+)/))[1]!;
  }, TIMEOUT);
  afterAll(() => quick?.stop(), TIMEOUT);

  test(
    "docs/clients.md's headless recipe: FOLLOW_PASSWORD signs the Inspector in as the local user",
    async () => {
      const before = readFileSync(followLog, 'utf8').length;
      const tools = await inspector('echo-stateful', ['--method', 'tools/list'], {
        base: quick.url,
        env: { FOLLOW_PASSWORD: password },
        asDocumented: true,
      });
      expect((tools as { tools: { name: string }[] }).tools.map((t) => t.name)).toContain('whoami');
      // The hook writes its summary after the client got its callback: wait for it.
      const said = 'pages: local-login → consent; callback page loaded';
      const deadline = Date.now() + 10_000;
      while (!readFileSync(followLog, 'utf8').slice(before).includes(said) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(readFileSync(followLog, 'utf8').slice(before)).toContain(said);
    },
    TIMEOUT,
  );

  test(
    "docs/clients.md's stored tokens: MCP_INSPECTOR_SECRET_STORE=file, then --stored-auth-only and --server-url --use-stored-auth log in no more",
    async () => {
      const home = mkdtempSync(join(dir, 'inspector-file-'));
      const file = { MCP_INSPECTOR_SECRET_STORE: 'file', FOLLOW_PASSWORD: password };
      await inspector('echo-stateful', ['--method', 'tools/list'], {
        base: quick.url,
        home,
        env: file,
        asDocumented: true,
      });
      // No browser from here on: a login attempt would fail.
      const offline = { ...file, BROWSER: '/bin/false', MCP_AUTO_OPEN_ENABLED: 'false' };
      const names = (r: unknown) => (r as { tools: { name: string }[] }).tools.map((t) => t.name);
      const reused = await inspector('echo-stateful', ['--method', 'tools/list', '--stored-auth-only'], {
        base: quick.url,
        home,
        env: offline,
        login: false,
      });
      expect(names(reused)).toContain('echo');
      const viaServerUrl = await inspector(
        'echo-stateful',
        ['--server-url', `${quick.url}/echo-stateful/mcp`, '--method', 'tools/list', '--use-stored-auth'],
        { home, env: offline, login: false },
      );
      expect(names(viaServerUrl)).toContain('echo');
    },
    TIMEOUT,
  );
});
