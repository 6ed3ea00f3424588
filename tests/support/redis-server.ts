/**
 * A throwaway redis-server for tests: a free loopback port, no persistence, its own temp dir,
 * optionally password-protected. `stop()` kills it and removes the dir.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../auth/src/http/free-port.ts';

export interface RedisServer {
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  port: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: its data directory (and append-only file) is kept for `restart`. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (after `kill`). */
  restart(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
  /** A fixed port (nothing else may be listening there). */
  port?: number;
  /** Persistence: appendonly yes, appendfsync always (every write on disk before it is answered). */
  appendonly?: boolean;
  /** More arguments for redis-server (`--replicaof 127.0.0.1 6379`). */
  args?: string[];
}

const START_DEADLINE_MS = 10_000;
const STOP_DEADLINE_MS = 3_000;

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  if (options.port !== undefined) return launch(options.port, options);
  // A port found free can be taken before redis binds it; then try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(await freePort(), options);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof PortTaken)) throw err;
    }
  }
}

class PortTaken extends Error {}

async function launch(port: number, options: RedisOptions, dataDir?: string): Promise<RedisServer> {
  const { password } = options;
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'redis-test-')));
  const persistence = options.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const args = ['--save', '', ...persistence, '--bind', '127.0.0.1', '--port', String(port)];
  args.push('--protected-mode', 'yes', '--dir', dir);
  if (password) args.push('--requirepass', password, '--masterauth', password);
  args.push(...(options.args ?? []));
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;

  const stopProcess = async (signal: NodeJS.Signals): Promise<void> => {
    if (running()) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
      await exited;
      clearTimeout(timer);
    }
  };
  let current: RedisServer | undefined;
  const stop = async (): Promise<void> => {
    await stopProcess('SIGTERM');
    await current?.stop();
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_DEADLINE_MS;
  while (!(await answersPing(port, password))) {
    const gone = spawnError ?? (child.exitCode !== null ? `exited with ${child.exitCode}` : undefined);
    if (gone || Date.now() > deadline) {
      await stopProcess('SIGKILL');
      if (!dataDir) await rm(dir, { recursive: true, force: true });
      if (/address already in use/i.test(output)) throw new PortTaken(`port ${port} taken`);
      throw new Error(`redis-server did not come up on port ${port} (${gone ?? 'timed out'}): ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const auth = password ? `:${encodeURIComponent(password)}@` : '';
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    stop,
    kill: async () => {
      await current?.kill();
      current = undefined;
      await stopProcess('SIGKILL');
    },
    restart: async () => {
      if (running() || current) throw new Error('redis-server is still running');
      current = await launch(port, options, dir);
    },
  };
}

/** A command in RESP, so that any password survives the trip. */
function command(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
}

/** Does a server on the port answer PING (with AUTH first when there is a password)? */
async function answersPing(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-')) done(false);
    });
    socket.connect(port, '127.0.0.1', () => {
      socket.write((password ? command('AUTH', password) : '') + command('PING'));
    });
  });
}
