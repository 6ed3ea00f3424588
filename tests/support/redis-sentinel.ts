/**
 * A real Redis Sentinel setup on loopback: a master, a replica of it, and one `redis-sentinel`
 * monitoring them (quorum 1, a master is down after 1 s without an answer), for failover tests.
 * `killMaster()` SIGKILLs the master; the sentinel then promotes the replica.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../auth/src/http/free-port.ts';
import { startRedis, type RedisServer } from './redis-server.ts';

export const MASTER_NAME = 'mymaster';

export interface SentinelSetup {
  master: RedisServer;
  replica: RedisServer;
  /** `127.0.0.1:<port>` of the sentinel: REDIS_SENTINELS. */
  sentinels: string;
  /** Asks the sentinel which port the master is on now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** One RESP command to the sentinel, its raw answer. */
function ask(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error('sentinel did not answer'));
    });
    socket.once('error', reject);
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (/\r\n$/.test(reply) && (reply.startsWith('*') ? reply.split('\r\n').length >= 5 : true)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.connect(port, '127.0.0.1', () =>
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    );
  });
}

export async function startSentinelSetup(): Promise<SentinelSetup> {
  // Diskless initial sync without its default 5 s wait for more replicas.
  const master = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  const replica = await startRedis({
    args: ['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-sync-delay', '0'],
  });
  // The replica holds the master's data before anything else happens.
  const probe = new Redis(replica.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await probe.connect();
    for (const until = Date.now() + 15_000; ;) {
      if ((await probe.info('replication')).includes('master_link_status:up')) break;
      if (Date.now() > until) throw new Error('the replica did not sync with the master');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    probe.disconnect();
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-test-'));
  const conf = join(dir, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'protected-mode no',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 5000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
  const sentinel: ChildProcess = spawn('redis-sentinel', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  sentinel.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  sentinel.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const masterPort = async () => {
    const reply = await ask(port, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME);
    return Number(reply.split('\r\n')[4]);
  };
  // Up when it names the master and knows its replica.
  for (const until = Date.now() + 15_000; ;) {
    const ok = await masterPort().then(
      (p) => p === master.port,
      () => false,
    );
    const replicas = ok ? await ask(port, 'SENTINEL', 'replicas', MASTER_NAME).catch(() => '') : '';
    if (ok && replicas.includes(String(replica.port))) break;
    if (Date.now() > until || sentinel.exitCode !== null) throw new Error(`redis-sentinel did not come up: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    master,
    replica,
    sentinels: `127.0.0.1:${port}`,
    masterPort,
    async stop() {
      if (sentinel.exitCode === null) {
        const exited = once(sentinel, 'exit');
        sentinel.kill('SIGTERM');
        await exited;
      }
      await Promise.all([master.stop(), replica.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
