import { GATEWAY_CHILD_IPC } from '../../contracts/child-ipc.ts';

/**
 * A service or proxy process started by `npm start` ends with the gateway that started it, even
 * when the gateway dies without a word (SIGKILL, a crash): the gateway spawns it with an IPC
 * channel (auth/src/edge/children.ts), and the channel's end is the parent's. Without one (Compose,
 * a process of its own), nothing is watched. Only the gateway's channel counts, which it names in
 * GATEWAY_CHILD_IPC (contracts/child-ipc.ts).
 */
export function endWithParent(stop: () => void): void {
  if (!process.channel || process.env[GATEWAY_CHILD_IPC] !== '1') return;
  // The channel is a watch only: it must not keep the process alive.
  process.channel.unref();
  process.once('disconnect', stop);
}
