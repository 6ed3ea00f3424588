/**
 * One stdio MCP server process, as an SDK `Transport`: newline-delimited JSON-RPC on its stdin
 * and stdout (MCP 2025-11-25, transports, "stdio": messages are delimited by newlines and MUST
 * NOT contain embedded newlines; the server MAY log to stderr). Messages pass through as they
 * are (validated as JSON-RPC, never rewritten), so any protocol feature survives the relay.
 *
 * The process runs in its own process group, so that ending it also ends what it started
 * (`npx` → `sh` → the server): the SDK's StdioClientTransport would kill only `npx`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface ChildOptions {
  command: string[];
  env: Record<string, string>;
  maxMessageBytes: number;
  killGraceMs: number;
  /** A line the server wrote to stderr (its own log). */
  onStderr?: (line: string) => void;
}

export class ChildProcessTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** Why the process ended, in words for a JSON-RPC error (set once it has ended). */
  exitReason?: string;
  readonly exited: Promise<void>;

  #options: ChildOptions;
  #process?: ChildProcess;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #stopping = false;
  /** Settles when the process group is gone, once stopping has begun. */
  #gone: Promise<void> = Promise.resolve();
  #markExited!: () => void;

  constructor(options: ChildOptions) {
    this.#options = options;
    this.exited = new Promise((resolve) => (this.#markExited = resolve));
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get running(): boolean {
    return this.#process !== undefined && this.exitReason === undefined;
  }

  async start(): Promise<void> {
    const [command, ...args] = this.#options.command;
    const child = spawn(command === 'node' ? process.execPath : command!, args, {
      env: this.#options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.#process = child;
    child.stdout!.on('data', (chunk: Buffer) => this.#read(chunk));
    child.stdin!.on('error', () => {}); // EPIPE when the server has gone: its exit is reported below
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (stderr + text).split('\n');
      stderr = lines.pop()!.slice(-this.#options.maxMessageBytes);
      for (const line of lines) if (line.trim()) this.#options.onStderr?.(line);
    });
    child.on('error', (err) => this.#ended(`the MCP server could not be started: ${err.message}`));
    child.on('exit', (code, signal) => {
      this.#ended(`the MCP server process exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#process?.stdin;
    if (!stdin || !stdin.writable || this.exitReason !== undefined) throw new Error('the MCP server is not running');
    stdin.write(JSON.stringify(message) + '\n');
  }

  /**
   * Stops the server as the spec's stdio shutdown says: close its stdin, then SIGTERM if it has
   * not exited in time, then SIGKILL. "Exited" means its whole process group is gone: a shell
   * or `npx` may die at once while the server it started lingers.
   */
  async close(): Promise<void> {
    const child = this.#process;
    if (!child || this.#stopping) return this.#gone;
    this.#stopping = true;
    child.stdin!.end();
    this.#gone = this.#groupGone().then(async (gone) => {
      if (!gone) await this.#reap();
    });
    return this.#gone;
  }

  /** Last resort when the proxy itself exits: no waiting. */
  killNow(): void {
    this.#signal('SIGKILL');
  }

  /** SIGTERM, a grace period, then SIGKILL, to whatever is left of the process group. */
  async #reap(): Promise<void> {
    this.#signal('SIGTERM');
    if (!(await this.#groupGone())) this.#signal('SIGKILL');
    await this.exited;
  }

  /** Waits up to the grace period for the process and its group to be gone. */
  async #groupGone(): Promise<boolean> {
    const deadline = Date.now() + this.#options.killGraceMs;
    for (;;) {
      if (this.exitReason !== undefined && !this.#signal(0)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Signals the process group; false if it no longer exists. */
  #signal(signal: NodeJS.Signals | 0): boolean {
    const pid = this.#process?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      return false; // the group is gone already
    }
  }

  #ended(reason: string): void {
    if (this.exitReason !== undefined) return;
    this.exitReason = reason;
    this.#markExited();
    // Whatever the server started dies with it (e.g. the real server behind a crashed `npx`).
    if (!this.#stopping) {
      this.#stopping = true;
      this.#gone = this.#reap();
    }
    this.onclose?.();
  }

  /** Fails the server when one message exceeds the limit: the relay cannot deliver it whole. */
  #tooLarge(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#signal('SIGKILL');
    this.#ended(`the MCP server sent a message larger than ${this.#options.maxMessageBytes} bytes`);
  }

  #read(chunk: Buffer): void {
    if (this.exitReason !== undefined) return;
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      if (this.#pendingBytes + newline - start > this.#options.maxMessageBytes) return this.#tooLarge();
      this.#pending.push(chunk.subarray(start, newline));
      const line = Buffer.concat(this.#pending).toString('utf8');
      this.#pending = [];
      this.#pendingBytes = 0;
      start = newline + 1;
      this.#line(line);
    }
    const rest = chunk.subarray(start);
    this.#pendingBytes += rest.length;
    if (this.#pendingBytes > this.#options.maxMessageBytes) return this.#tooLarge();
    if (rest.length) this.#pending.push(rest);
  }

  #line(text: string): void {
    const line = text.trim();
    if (!line) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.onerror?.(new Error('the MCP server wrote a line that is not JSON to stdout (ignored)'));
      return;
    }
    if (!JSONRPCMessageSchema.safeParse(value).success) {
      this.onerror?.(new Error('the MCP server wrote JSON that is not a JSON-RPC message to stdout (ignored)'));
      return;
    }
    this.onmessage?.(value as JSONRPCMessage);
  }
}
