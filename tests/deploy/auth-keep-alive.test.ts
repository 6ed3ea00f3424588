/**
 * The auth service as the Compose stack runs it (`node auth/src/main.ts`) keeps idle connections
 * longer than Traefik keeps its own to a backend (serversTransport and ForwardAuth: 90 s), so that
 * Traefik, never auth, closes them and no /verify is sent on a connection being closed.
 * Node announces its keep-alive timeout in each keep-alive answer (`Keep-Alive: timeout=N`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from '../support/stack.ts';

const TRAEFIK_IDLE_CONN_TIMEOUT_S = 90;

test('auth keeps idle connections longer than Traefik', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['auth/src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DOTENV_CONFIG_PATH: '/nonexistent',
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes('"msg":"auth service listening"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`auth did not start:\n${out}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    await res.body?.cancel();
    const timeout = Number(/timeout=(\d+)/.exec(res.headers.get('keep-alive') ?? '')?.[1]);
    expect(timeout).toBeGreaterThan(TRAEFIK_IDLE_CONN_TIMEOUT_S);
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
});
