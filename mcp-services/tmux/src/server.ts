/**
 * Terminal sessions in tmux, one tmux server per user: tools shaped like those of the existing
 * tmux MCP servers (list, create, send keys, capture, kill). The caller is the user the gateway
 * names in X-User-Id; a request without one is refused.
 */
import { homedir } from 'node:os';
import { McpServer, type ServerContext } from '@modelcontextprotocol/server';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { callerIdentity, headersOf } from '../../shared/identity.ts';
import { isNoServer, runTmux, SESSION_NAME, socketName, TmuxError, type RunOptions } from './tmux.ts';

export interface TmuxServiceOptions {
  /** Sessions one user may have at once (MCP_TMUX_MAX_SESSIONS). */
  maxSessions: number;
  /** Per tmux call. */
  timeoutMs?: number;
  /** The tmux executable; tests name a missing or hanging one. */
  binary?: string;
}

export const DEFAULTS = { maxSessions: 10, timeoutMs: 5000, lines: 100, maxLines: 2000 };

/** Reads MCP_TMUX_MAX_SESSIONS; throws with the setting's name when it is malformed. */
export function tmuxOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): TmuxServiceOptions {
  const text = env.MCP_TMUX_MAX_SESSIONS?.trim();
  if (!text) return { maxSessions: DEFAULTS.maxSessions };
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`MCP_TMUX_MAX_SESSIONS must be a positive integer, not "${text}"`);
  }
  return { maxSessions: value };
}

const text = (message: string, isError = false): CallToolResult => ({
  content: [{ type: 'text', text: message }],
  ...(isError ? { isError } : {}),
});

/** One create at a time per user, so that concurrent calls cannot pass the session limit together. */
const creating = new Map<string, Promise<unknown>>();
async function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  const current = (creating.get(key) ?? Promise.resolve()).then(work);
  const settled = current.catch(() => undefined);
  creating.set(key, settled);
  try {
    return await current;
  } finally {
    if (creating.get(key) === settled) creating.delete(key);
  }
}

interface Session {
  name: string;
  windows: number;
  attached: boolean;
  created: string;
}

const sessionName = z
  .string()
  .regex(SESSION_NAME, 'Session names are 1 to 64 letters, digits, "_" or "-".')
  .describe('The session name: 1 to 64 letters, digits, "_" or "-".');

export function createTmuxServer(options: TmuxServiceOptions): McpServer {
  const run: RunOptions = { binary: options.binary ?? 'tmux', timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs };
  const server = new McpServer({ name: 'tmux', version: '0.1.0' });

  /** Runs a tool for the calling user, with `tmux` bound to their own tmux server. */
  type Tmux = (...args: string[]) => Promise<string>;
  const asCaller =
    <A>(work: (args: A, tmux: Tmux, socket: string) => Promise<string>) =>
    async (args: A, ctx: ServerContext) => {
      try {
        const user = callerIdentity(headersOf(ctx.http?.req)).id;
        if (!user) {
          throw new TmuxError('No caller identity (X-User-Id): this service must be reached through the gateway.');
        }
        const socket = socketName(user);
        return text(await work(args, (...tmuxArgs) => runTmux(socket, tmuxArgs, run), socket));
      } catch (error) {
        return text(error instanceof TmuxError ? error.message : `tmux failed: ${(error as Error).message}`, true);
      }
    };

  const listSessions = async (tmux: Tmux): Promise<Session[]> => {
    let out: string;
    try {
      out = await tmux(
        'list-sessions',
        '-F',
        '#{session_name}\t#{session_windows}\t#{session_attached}\t#{session_created}',
      );
    } catch (error) {
      if (isNoServer(error)) return [];
      throw error;
    }
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name = '', windows, attached, created] = line.split('\t');
        return {
          name,
          windows: Number(windows),
          attached: Number(attached) > 0,
          created: new Date(Number(created) * 1000).toISOString(),
        };
      });
  };
  /** `=name:` is the session named exactly that (no prefix match), its current window and pane. */
  const pane = (session: string) => `=${session}:`;

  server.registerTool(
    'list_sessions',
    {
      description: 'Lists your tmux sessions (name, window count, whether attached, creation time) as JSON.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    asCaller(async (_args, tmux) => JSON.stringify(await listSessions(tmux), null, 2)),
  );

  server.registerTool(
    'create_session',
    {
      description:
        'Creates a detached tmux session, running your shell or the given shell command. ' +
        `At most ${options.maxSessions} sessions at once.`,
      inputSchema: {
        name: sessionName,
        command: z
          .string()
          .min(1)
          .max(10_000)
          .optional()
          .describe('A shell command to run instead of a shell; the session ends when it exits.'),
      },
    },
    asCaller<{ name: string; command?: string }>(async ({ name, command }, tmux, socket) =>
      oneAtATime(socket, async () => {
        const sessions = await listSessions(tmux);
        if (sessions.length >= options.maxSessions) {
          throw new TmuxError(
            `Session limit reached: you have ${sessions.length} sessions (at most ${options.maxSessions}). ` +
              'Kill one with kill_session first.',
          );
        }
        if (sessions.some((s) => s.name === name)) throw new TmuxError(`Session "${name}" already exists.`);
        await tmux('new-session', '-d', '-s', name, '-c', homedir(), ...(command ? ['--', command] : []));
        return `Created session "${name}"${command ? ` running: ${command}` : ''}.`;
      }),
    ),
  );

  server.registerTool(
    'send_keys',
    {
      description:
        'Types text into a session as it is (no key names), then presses Enter if asked: ' +
        '{ keys: "ls -l", enter: true } runs a command in a shell.',
      inputSchema: {
        session: sessionName,
        keys: z.string().max(10_000).describe('The text to type, character for character.'),
        enter: z.boolean().default(false).describe('Press Enter after the text.'),
      },
    },
    asCaller<{ session: string; keys: string; enter: boolean }>(async ({ session, keys, enter }, tmux) => {
      if (!keys && !enter) throw new TmuxError('Nothing to send: keys is empty and enter is false.');
      if (keys) await tmux('send-keys', '-t', pane(session), '-l', '--', keys);
      if (enter) await tmux('send-keys', '-t', pane(session), 'Enter');
      return `Sent ${keys.length} characters${enter ? ' and Enter' : ''} to session "${session}".`;
    }),
  );

  server.registerTool(
    'capture_pane',
    {
      description: "Returns the last lines of a session's screen and scrollback, as plain text.",
      inputSchema: {
        session: sessionName,
        lines: z
          .number()
          .int()
          .min(1)
          .max(DEFAULTS.maxLines)
          .default(DEFAULTS.lines)
          .describe(`How many lines, counted from the last non-empty one (at most ${DEFAULTS.maxLines}).`),
      },
      annotations: { readOnlyHint: true },
    },
    asCaller<{ session: string; lines: number }>(async ({ session, lines }, tmux) => {
      const out = await tmux('capture-pane', '-p', '-t', pane(session), '-S', String(-lines));
      const all = out.split('\n');
      while (all.length > 0 && all[all.length - 1]?.trim() === '') all.pop();
      return all.slice(-lines).join('\n');
    }),
  );

  server.registerTool(
    'kill_session',
    {
      description: 'Ends a session and every program running in it.',
      inputSchema: { session: sessionName },
      annotations: { destructiveHint: true },
    },
    asCaller<{ session: string }>(async ({ session }, tmux) => {
      await tmux('kill-session', '-t', `=${session}`);
      return `Killed session "${session}".`;
    }),
  );
  return server;
}
