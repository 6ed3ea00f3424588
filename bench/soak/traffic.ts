/**
 * The soak's traffic: what a crowd of MCP clients does to one gateway, all of it at once.
 *
 *   login     register a client (or reuse one registered earlier), then the whole authorization
 *             code + PKCE flow through the local user's login and consent pages, and the code
 *             exchange (tests/support/flow.ts, person.ts: the pages' forms read as a browser would)
 *   refresh   one refresh of a grant (the refresh token rotates)
 *   session   the official MCP SDK client (Streamable HTTP, 2025-11-25): initialize (a session, its
 *             GET stream), tools/list, a few calls, one that streams progress notifications, DELETE
 *   modern    the SDK v2 client pinned to 2026-07-28 (no session): server/discover, one call
 *   revoke    RFC 7009: a refresh token (the grant ends) or an access token (that token ends, the
 *             grant is refreshed and goes on); then the revoked access token must get 401 at the
 *             service, and a revoked refresh token invalid_grant at /token
 *
 * Every answer is checked; anything unexpected (a status, a body, an exception, a timeout) is an
 * error of the operation it happened in. Grants live in a pool: each is used by one operation at
 * a time, logins add to it and revocations of refresh tokens take from it.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { runFlow } from '../../tests/support/flow.ts';
import { postMcp } from '../../tests/support/mcp-client.ts';
import { registerOk, tokenRequest, type ClientAuth, type Registered } from '../../tests/support/oauth.ts';
import { Person } from '../../tests/support/person.ts';

/** The services the soak enables: none needs the network or writes per-user data. */
export const SERVICES = ['echo-stateful', 'echo-stateless', 'time', 'everything'] as const;
export type Service = (typeof SERVICES)[number];

export const OPS = [
  'register',
  'login',
  'refresh',
  'mcp_open',
  'mcp_call',
  'mcp_stream',
  'mcp_close',
  'modern_call',
  'revoke',
  'revoked_refused',
] as const;
export type Op = (typeof OPS)[number];

/** What each operation may take before it counts as an error (and its lane goes on). */
const OP_TIMEOUT_MS = 60_000;
/** Grants kept in the pool: above it, revocations end grants; at or below, they end access tokens. */
const POOL_TARGET = 24;
/** Registered clients kept for reuse by later logins. */
const CLIENTS_KEPT = 20;

const METADATA = {
  client_name: 'Soak client',
  redirect_uris: ['http://127.0.0.1:9999/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

/** An error already recorded against its operation. */
class Recorded extends Error {}

export interface ErrorEntry {
  /** Seconds since the traffic started. */
  t: number;
  op: string;
  message: string;
}

export class Recorder {
  readonly started = performance.now();
  /** Per operation: when each success ended (s since start) and how long it took (ms). */
  readonly latencies = new Map<Op, { t: number[]; ms: number[] }>(OPS.map((op) => [op, { t: [], ms: [] }]));
  readonly errors: ErrorEntry[] = [];
  /** Things counted along the way (pages seen, progress notifications, revocations by kind). */
  readonly counts: Record<string, number> = {};
  errorCount = 0;

  now(): number {
    return (performance.now() - this.started) / 1000;
  }

  count(name: string, n = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + n;
  }

  error(op: string, err: unknown): void {
    this.errorCount++;
    // Every error is counted; the first 1 000 are kept with their message.
    if (this.errors.length < 1000) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.errors.push({ t: this.now(), op, message: message.slice(0, 500) });
    }
  }

  /** Runs `fn` as one `op`: its latency when it succeeds, an error when it throws or times out. */
  async time<T>(op: Op, fn: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${OP_TIMEOUT_MS / 1000} s`)), OP_TIMEOUT_MS);
      });
      const result = await Promise.race([fn(), timeout]);
      const series = this.latencies.get(op)!;
      series.t.push(this.now());
      series.ms.push(performance.now() - started);
      return result;
    } catch (err) {
      if (!(err instanceof Recorded)) this.error(op, err);
      throw new Recorded(op);
    } finally {
      clearTimeout(timer);
    }
  }
}

interface Grant {
  service: Service;
  auth: ClientAuth;
  access: string;
  refresh: string;
  busy: boolean;
}

/** The grants the traffic holds; each is lent to one operation at a time. */
class Pool {
  private readonly grants: Grant[] = [];

  get size(): number {
    return this.grants.length;
  }

  add(grant: Grant): void {
    this.grants.push(grant);
  }

  /** An idle grant (the oldest matching, or a random one), lent until `release` or `drop`. */
  take(match: (g: Grant) => boolean = () => true, oldest = false): Grant | undefined {
    const idle = this.grants.filter((g) => !g.busy && match(g));
    const grant = oldest ? idle[0] : idle[Math.floor(Math.random() * idle.length)];
    if (grant) grant.busy = true;
    return grant;
  }

  release(grant: Grant): void {
    grant.busy = false;
  }

  drop(grant: Grant): void {
    const i = this.grants.indexOf(grant);
    if (i >= 0) this.grants.splice(i, 1);
  }

  per(service: Service): number {
    return this.grants.filter((g) => g.service === service).length;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
type ToolResult = { content?: { type: string; text?: string }[]; isError?: boolean };
const text = (r: unknown) => ((r as ToolResult).content ?? []).map((c) => c.text ?? '').join('\n');

function expectText(result: unknown, want: string | RegExp, what: string): void {
  const got = text(result);
  const ok = typeof want === 'string' ? got.includes(want) : want.test(got);
  if ((result as ToolResult).isError || !ok)
    throw new Error(`${what} answered ${JSON.stringify(result).slice(0, 300)}`);
}

export class Traffic {
  readonly rec = new Recorder();
  readonly pool = new Pool();
  private readonly clients: Registered[] = [];
  private stopping = false;
  private readonly lanes: Promise<void>[] = [];
  private gates = 0;
  private readonly base: string;
  private readonly password: string;

  constructor(base: string, password: string) {
    this.base = base;
    this.password = password;
  }

  private url(service: Service): string {
    return `${this.base}/${service}/mcp`;
  }

  /** Starts every lane: each repeats its operation, with a pause after each, until `stop`. */
  start(): void {
    const lane = (name: string, pauseMs: number, body: () => Promise<boolean | void>) =>
      this.lanes.push(
        (async () => {
          while (!this.stopping) {
            let worked: boolean | void = true;
            try {
              worked = await body();
            } catch (err) {
              if (!(err instanceof Recorded)) this.rec.error(name, err);
            }
            // Jittered, so that the lanes do not fall into step.
            await sleep(worked === false ? 100 : pauseMs * (0.5 + Math.random()));
          }
        })(),
      );
    lane('login', 300, () => this.login());
    lane('refresh', 100, () => this.refresh());
    lane('refresh', 100, () => this.refresh());
    for (const service of SERVICES)
      lane(`session ${service}`, service === 'everything' ? 1000 : 150, () => this.session(service));
    lane('modern', 200, () => this.modern());
    lane('revoke', 300, () => this.revoke());
  }

  /** Lets every lane finish the operation it is in; resolves when all have. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.lanes);
  }

  /** A login for the service with the fewest grants: a new client half the time. */
  private async login(): Promise<void> {
    const service = [...SERVICES].sort((a, b) => this.pool.per(a) - this.pool.per(b))[0]!;
    let client: Registered;
    if (this.clients.length >= 5 && Math.random() < 0.5) {
      client = pick(this.clients);
    } else {
      client = await this.rec.time('register', () => registerOk(this.base, METADATA));
      this.clients.push(client);
      if (this.clients.length > CLIENTS_KEPT) this.clients.shift();
    }
    const person = new Person(this.base);
    const flow = await this.rec.time('login', async () => {
      const flow = await runFlow({
        base: this.base,
        client,
        person,
        params: { resource: this.url(service), state: `s${Math.random().toString(36).slice(2)}` },
        authorize: { password: this.password },
      });
      const { access_token, refresh_token } = flow.token?.body ?? {};
      if (flow.token?.status !== 200 || !access_token || !refresh_token) {
        throw new Error(`login ended at ${flow.redirect.href}, token ${JSON.stringify(flow.token)}`);
      }
      return { ...flow, access_token, refresh_token };
    });
    for (const page of person.seen) this.rec.count(`page ${page.kind}`);
    this.pool.add({ service, auth: flow.auth, access: flow.access_token, refresh: flow.refresh_token, busy: false });
  }

  /** One refresh; the grant goes on with the new pair. */
  private async refresh(grant = this.pool.take()): Promise<boolean> {
    if (!grant) return false;
    try {
      const body = await this.rec.time('refresh', async () => {
        const r = await tokenRequest(this.base, grant.auth, {
          grant_type: 'refresh_token',
          refresh_token: grant.refresh,
        });
        if (
          r.status !== 200 ||
          !r.body.access_token ||
          !r.body.refresh_token ||
          r.body.refresh_token === grant.refresh
        ) {
          throw new Error(`refresh answered ${r.status} ${JSON.stringify(r.body)}`);
        }
        return r.body;
      });
      grant.access = body.access_token!;
      grant.refresh = body.refresh_token!;
      this.pool.release(grant);
    } catch (err) {
      this.pool.drop(grant); // its state is unknown now
      throw err;
    }
    return true;
  }

  /** An SDK (2025-11-25) session: open, list, call, stream, close. */
  private async session(service: Service): Promise<boolean> {
    const grant = this.pool.take((g) => g.service === service);
    if (!grant) return false;
    try {
      const transport = new StreamableHTTPClientTransport(new URL(this.url(service)), {
        requestInit: { headers: { authorization: `Bearer ${grant.access}` } },
      });
      const client = new Client({ name: 'soak', version: '1.0.0' });
      await this.rec.time('mcp_open', () => client.connect(transport));
      this.rec.count('sessions opened');
      try {
        await this.rec.time('mcp_call', async () => {
          const { tools } = await client.listTools();
          if (!tools.length) throw new Error('tools/list: no tools');
        });
        for (let i = 0; i < 3; i++) await this.call(client, service, i);
        if (service === 'echo-stateful' || service === 'everything') await this.stream(client, service);
      } finally {
        await this.rec.time('mcp_close', async () => {
          await transport.terminateSession();
          await client.close();
        });
        this.rec.count('sessions closed');
      }
    } finally {
      this.pool.release(grant);
    }
    return true;
  }

  private call(client: Client, service: Service, i: number): Promise<void> {
    return this.rec.time('mcp_call', async () => {
      const message = `soak ${i} ${Math.random()}`;
      if (service === 'time') {
        expectText(
          await client.callTool({ name: 'get_current_time', arguments: { timezone: 'UTC' } }),
          'UTC',
          'get_current_time',
        );
      } else {
        const want = service === 'everything' ? `Echo: ${message}` : message;
        expectText(await client.callTool({ name: 'echo', arguments: { message } }), want, 'echo');
      }
    });
  }

  /**
   * A call that streams: echo-stateful's gate (a progress notification, then it waits until a
   * second call in the same session opens it), or everything's long-running operation (four
   * progress notifications over 0.4 s).
   */
  private stream(client: Client, service: 'echo-stateful' | 'everything'): Promise<void> {
    return this.rec.time('mcp_stream', async () => {
      let progress = 0;
      if (service === 'everything') {
        const result = await client.callTool(
          { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
          undefined,
          { onprogress: () => progress++, timeout: 30_000 },
        );
        expectText(result, 'Long running operation completed', 'trigger-long-running-operation');
        if (progress !== 4)
          throw new Error(`trigger-long-running-operation: ${progress} progress notifications, not 4`);
      } else {
        const name = `soak-${++this.gates}`;
        let opened: Promise<unknown> | undefined;
        const result = await client.callTool({ name: 'gate', arguments: { name } }, undefined, {
          timeout: 30_000,
          onprogress: () => {
            progress++;
            opened ??= client.callTool({ name: 'open_gate', arguments: { name } }).then(
              (r) => r,
              (err: unknown) => err,
            );
          },
        });
        expectText(result, `gate ${name} passed`, 'gate');
        const open = await opened;
        if (open instanceof Error) throw open;
        expectText(open, 'opened', 'open_gate');
        if (progress !== 1) throw new Error(`gate: ${progress} progress notifications, not 1`);
      }
      this.rec.count('progress notifications', progress);
    });
  }

  /** A client that speaks only 2026-07-28: no session, each request stands alone. */
  private async modern(): Promise<boolean> {
    const service = pick(SERVICES);
    const grant = this.pool.take((g) => g.service === service);
    if (!grant) return false;
    try {
      await this.rec.time('modern_call', async () => {
        const client = new ModernClient(
          { name: 'soak-modern', version: '1.0.0' },
          { versionNegotiation: { mode: { pin: '2026-07-28' } } },
        );
        await client.connect(
          new ModernTransport(new URL(this.url(service)), {
            requestInit: { headers: { authorization: `Bearer ${grant.access}` } },
          }),
        );
        try {
          const message = `modern ${Math.random()}`;
          const result =
            service === 'time'
              ? await client.callTool({ name: 'get_current_time', arguments: { timezone: 'UTC' } })
              : await client.callTool({ name: 'echo', arguments: { message } });
          expectText(result, service === 'time' ? 'UTC' : message, `${service} echo (2026-07-28)`);
        } finally {
          await client.close();
        }
      });
    } finally {
      this.pool.release(grant);
    }
    return true;
  }

  /**
   * Above the pool's target, the oldest grant's refresh token is revoked (the whole grant ends);
   * otherwise a random grant's access token (the grant is refreshed and stays). Either way the
   * revoked access token must be refused at its service at once.
   */
  private async revoke(): Promise<boolean> {
    const whole = this.pool.size > POOL_TARGET;
    const grant = this.pool.take(undefined, whole);
    if (!grant) return false;
    let kept = false;
    try {
      const token = whole ? grant.refresh : grant.access;
      await this.rec.time('revoke', async () => {
        const r = await tokenRequest(
          this.base,
          grant.auth,
          { token, token_type_hint: whole ? 'refresh_token' : 'access_token' },
          '/revoke',
        );
        if (r.status !== 200) throw new Error(`/revoke answered ${r.status} ${JSON.stringify(r.body)}`);
      });
      this.rec.count(whole ? 'revoked refresh tokens' : 'revoked access tokens');
      await this.rec.time('revoked_refused', async () => {
        const res = await postMcp(this.url(grant.service), grant.access);
        await res.text();
        if (res.status === 200) throw new Error(`a revoked access token was accepted at /${grant.service}/mcp`);
        if (res.status !== 401) throw new Error(`a revoked access token got ${res.status}, not 401`);
        if (whole) {
          const r = await tokenRequest(this.base, grant.auth, {
            grant_type: 'refresh_token',
            refresh_token: grant.refresh,
          });
          if (r.status !== 400 || r.body.error !== 'invalid_grant') {
            throw new Error(`a revoked refresh token got ${r.status} ${JSON.stringify(r.body)}, not invalid_grant`);
          }
        }
      });
      if (!whole) {
        kept = true;
        await this.refresh(grant); // releases the grant, or drops it when the refresh fails
      }
    } finally {
      if (!kept) this.pool.drop(grant);
    }
    return true;
  }
}
