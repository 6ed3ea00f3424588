/**
 * The auth service's entry point as an operator meets it: `node auth/src/main.ts` (the Compose stack's),
 * started as a real process with an environment, read from its output.
 */
import { spawn } from 'node:child_process';
import { freePort } from '../../auth/src/http/free-port.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts main.ts; resolves when it exits or when `until` matches its stdout (then stops it). */
function start(env: Record<string, string>, until?: RegExp, onReady?: () => Promise<void>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['auth/src/main.ts'], {
      // No .env from the working tree: an empty dotenv path keeps the test hermetic.
      env: { PATH: process.env.PATH ?? '', DOTENV_CONFIG_PATH: '/nonexistent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let ready = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (until && !ready && until.test(stdout)) {
        ready = true;
        void (onReady ?? (async () => {}))()
          .catch(reject)
          .finally(() => child.kill('SIGTERM'));
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('refuses to start with no identity provider on a public address, naming every problem', async () => {
  const run = await start({ HOST: '0.0.0.0', PORT: 'eighty', ALLOWED_GITHUB_USERS: 'a' });
  expect(run.code).toBe(78);
  expect(run.stderr).toContain('No identity provider is configured and HOST=0.0.0.0 is not loopback');
  expect(run.stderr).toContain('PORT="eighty"');
  expect(run.stdout).not.toContain('listening');
});

test('the auth service alone (Compose entry point): prints the local password once, serves, warns about what matters, stops on SIGTERM', async () => {
  const port = await freePort();
  let health: unknown;
  const run = await start(
    { PORT: String(port), MCP_ECHO_ENABLED: 'true', DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS: 'true' },
    /password: \S+/,
    async () => {
      health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
    },
  );
  expect(health).toMatchObject({ status: 'ok' });
  expect(run.code).toBe(0);
  const password = /password: (\S+)/.exec(run.stdout)![1]!;
  expect(run.stdout.split(password)).toHaveLength(2);
  const lines = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
  expect(lines.find((l) => l.msg.includes('DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS'))?.level).toBe(40);
  expect(lines.some((l) => l.msg === 'auth service listening')).toBe(true);
  expect(lines.some((l) => l.msg === 'shutting down')).toBe(true);
});

test('GitHub with an empty ALLOWED_GITHUB_USERS: the startup log says nobody can log in', async () => {
  const port = await freePort();
  const run = await start(
    { PORT: String(port), GITHUB_CLIENT_ID: 'id', GITHUB_CLIENT_SECRET: 'secret-value-123' },
    /auth service listening/,
  );
  expect(run.stdout).toMatch(/ALLOWED_GITHUB_USERS is empty: nobody can log in/);
  expect(run.stdout).not.toContain('secret-value-123');
  expect(run.stdout).not.toContain('password:');
});

test('a remote MCP server whose authorization server offers no way to become its client stops the start (78)', async () => {
  // An MCP server with protected resource metadata, and an authorization server with metadata but
  // neither registration nor Client ID Metadata Documents.
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const json = (body: object) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/oauth-protected-resource/mcp') {
      return json({ resource: `${base}/mcp`, authorization_servers: [base] });
    }
    if (req.url === '/.well-known/oauth-authorization-server') {
      return json({ issuer: base, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token` });
    }
    res
      .writeHead(401, {
        'www-authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`,
      })
      .end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const run = await start({
      PORT: String(await freePort()),
      MCP_CLOSED_ENABLED: 'true',
      MCP_CLOSED_URL: `http://127.0.0.1:${port}/mcp`,
      MCP_CLOSED_AUTH: 'user',
    });
    expect(run.code).toBe(78);
    expect(run.stderr).toContain(
      `MCP_CLOSED_URL: http://127.0.0.1:${port} offers neither Client ID Metadata Documents nor dynamic registration: set MCP_CLOSED_CLIENT_ID (and _CLIENT_SECRET).`,
    );
    expect(run.stdout).not.toContain('listening');
  } finally {
    server.close();
  }
});
