/**
 * A real Redis Cluster on loopback, for tests: three masters (and, with `replicas`, one replica of
 * each), every node a redis-server with `--cluster-enabled yes` on a free port, joined by
 * `redis-cli --cluster create`, and ready once every node says `cluster_state:ok`. Each node's
 * cluster bus port is chosen free too and passed as `--cluster-port` (Redis 7): the default,
 * port + 10000, may be taken, or beyond 65535 for a high free port. An older redis-server gets a
 * port whose port + 10000 is free.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { freePort } from '../../auth/src/http/free-port.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

export interface RedisClusterOptions {
  /** One replica per master (six nodes): a master's death is followed by its replica's promotion. */
  replicas?: boolean;
  password?: string;
  /** Append-only files, so that data survives `kill()` and `restart()`. */
  appendonly?: boolean;
  /** cluster-node-timeout: how long a node may be silent before it counts as failing. */
  nodeTimeoutMs?: number;
}

export interface RedisCluster {
  /** The masters as created, then their replicas. */
  nodes: RedisServer[];
  /** `127.0.0.1:<port>` of every node, comma-separated: REDIS_CLUSTER_NODES. */
  seeds: string;
  /** SIGKILLs every node (their data directories, nodes.conf included, are kept). */
  kill(): Promise<void>;
  /** Starts every node again on its port and directory, and waits for `cluster_state:ok`. */
  restart(): Promise<void>;
  /** Waits until every running node says `cluster_state:ok`. */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const MASTERS = 3;

/** Does redis-server take --cluster-port (Redis 7 and later)? */
const clusterPortOption = Number(/v=(\d+)/.exec(execFileSync('redis-server', ['--version']).toString())?.[1]) >= 7;

/** Is this loopback port free now? */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port, and a free one for its cluster bus. */
async function nodePorts(): Promise<{ port: number; bus: number }> {
  for (;;) {
    const port = await freePort();
    const bus = clusterPortOption ? await freePort() : port + 10000;
    if (bus !== port && bus <= 65535 && (clusterPortOption || (await isFree(bus)))) return { port, bus };
  }
}

async function startNode(options: RedisClusterOptions): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    const { port, bus } = await nodePorts();
    try {
      return await startRedis({
        port,
        password: options.password,
        appendonly: options.appendonly,
        args: [
          '--cluster-enabled',
          'yes',
          // Relative to the node's own --dir.
          '--cluster-config-file',
          'nodes.conf',
          ...(clusterPortOption ? ['--cluster-port', String(bus)] : []),
          '--cluster-node-timeout',
          String(options.nodeTimeoutMs ?? 2000),
          '--repl-diskless-sync-delay',
          '0',
        ],
      });
    } catch (err) {
      // A port found free can be taken before redis-server binds it: try others.
      if (attempt >= 5 || !/already in use|Could not (create|bind)/i.test(String(err))) throw err;
    }
  }
}

function redisCli(args: string[], password: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, {
      env: { ...process.env, ...(password ? { REDISCLI_AUTH: password } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`redis-cli ${args.join(' ')} exited with ${code}: ${output}`));
    });
  });
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const count = options.replicas ? MASTERS * 2 : MASTERS;
  const nodes: RedisServer[] = [];
  const stopAll = () => Promise.all(nodes.map((node) => node.stop())).then(() => undefined);
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(options));
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await redisCli(
      ['--cluster', 'create', ...addresses, ...(options.replicas ? ['--cluster-replicas', '1'] : []), '--cluster-yes'],
      options.password,
    );
    const healthy = async (timeoutMs = 30_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (const node of nodes) {
        const probe = new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
        probe.on('error', () => undefined);
        try {
          for (;;) {
            const info = await probe.cluster('INFO').catch((err: Error) => err.message);
            if (String(info).includes('cluster_state:ok')) break;
            if (Date.now() > deadline) throw new Error(`node ${node.port} is not ok: ${String(info)}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        } finally {
          probe.disconnect();
        }
      }
    };
    await healthy();
    return {
      nodes,
      seeds: addresses.join(','),
      healthy,
      kill: async () => {
        await Promise.all(nodes.map((node) => node.kill()));
      },
      restart: async () => {
        await Promise.all(nodes.map((node) => node.restart()));
        await healthy();
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
