/**
 * Runs tmux for one user: every call names that user's own tmux server (`tmux -L <socket>`),
 * with an argument array (never a shell), a timeout, and a small environment (the tmux server
 * copies the environment of the client that starts it into every session).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';

/** A message for the caller: the tool answers with it as an error. */
export class TmuxError extends Error {}

/** No `.` or `:`: tmux would rename `a.b` to `a_b`, and both separate parts of a target. */
export const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The user's tmux socket name: `mcpgw-` and 16 hex digits of SHA-256 of the user id. */
export function socketName(userId: string): string {
  return `mcpgw-${createHash('sha256').update(userId).digest('hex').slice(0, 16)}`;
}

const PASSED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMUX_TMPDIR'];

export interface RunOptions {
  /** The tmux executable. */
  binary: string;
  timeoutMs: number;
}

/** `tmux -f /dev/null -L <socket> ...args`: its standard output, or a TmuxError saying what went wrong. */
export function runTmux(socket: string, args: string[], options: RunOptions): Promise<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  const argv = ['-f', '/dev/null', '-L', socket, ...args];
  return new Promise((resolve, reject) => {
    execFile(
      options.binary,
      argv,
      { env, timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 8 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(
            new TmuxError(
              `tmux is not installed (no "${options.binary}" on PATH): install the Debian package tmux ` +
                '(apt-get install -y tmux).',
            ),
          );
        }
        if (error.killed) {
          return reject(new TmuxError(`tmux did not answer within ${options.timeoutMs / 1000} s.`));
        }
        reject(new TmuxError(stderr.trim() || error.message));
      },
    );
  });
}

/** The user has no tmux server yet (or it exited with its last session). */
export const isNoServer = (error: unknown): boolean =>
  error instanceof TmuxError && /no server running|error connecting to|server exited unexpectedly/.test(error.message);
