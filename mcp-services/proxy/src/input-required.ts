/**
 * A stdio server's requests to the client during a call (sampling, elicitation, roots), for a
 * 2026-07-28 client, which holds no connection the server could ask on: they become
 * input-required results, and the client's retry carries the answers back to the waiting server
 * (MCP 2026-07-28, basic/patterns/mrtr; the SDK's `inputRequired`).
 *
 *   first round     the call goes to the user's child (a Flight). If the child asks the client
 *                   something before it answers, the round ends with `resultType: input_required`:
 *                   the questions (`inputRequests`, keyed) and a `requestState` naming the flight;
 *                   the child's call stays in flight, parked, its questions unanswered.
 *   each retry      the same request with `inputResponses` and that `requestState`: the answers
 *                   go to the child's waiting questions, and the round waits again for whichever
 *                   comes first, the call's result or the child's next questions.
 *
 * `requestState` is attacker-controlled input on re-entry (mrtr, server requirements 4–5): it is
 * HMAC-sealed by the SDK's codec under a key of this process, bound to the user and the method,
 * and names a flight that must still be parked, for the same user, method and name/uri. Anything
 * else (tampered, expired, another user's, a finished or unknown flight) is the SDK's `-32602`
 * "Invalid or expired requestState". A flight lives as long as its call: MCP_PROXY_REQUEST_TIMEOUT
 * from the first round, the time the user takes to answer included.
 *
 * Which call a question belongs to: stdio carries no request id on a server's request, so a
 * question is the flight's of that child that is running (not parked), the oldest if the user has
 * several calls in flight on the same child at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  ListRootsRequestSchema,
  McpError,
  type Result,
} from '@modelcontextprotocol/sdk/types.js';
import {
  createRequestStateCodec,
  ProtocolError,
  ProtocolErrorCode,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';

/** The methods whose results may be input-required (MCP 2026-07-28, basic/patterns/mrtr). */
export const MULTI_ROUND_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

/**
 * The server-to-client requests that become input requests: the client capability each needs, and
 * the schema the proxy's client of a child handles it by.
 */
export const INPUT_REQUESTS = {
  'sampling/createMessage': { capability: 'sampling', schema: CreateMessageRequestSchema },
  'elicitation/create': { capability: 'elicitation', schema: ElicitRequestSchema },
  'roots/list': { capability: 'roots', schema: ListRootsRequestSchema },
} as const;

/** The client capabilities the proxy declares to its children, so that they may ask. */
export const CHILD_CLIENT_CAPABILITIES = Object.fromEntries(
  Object.values(INPUT_REQUESTS).map(({ capability }) => [
    capability,
    capability === 'elicitation' ? { form: {}, url: {} } : {},
  ]),
);

interface Question {
  method: string;
  params: Record<string, unknown>;
  resolve: (result: Result) => void;
  reject: (err: Error) => void;
}

interface State {
  flight: string;
}

/** What a request names: a tool's or prompt's `name`, a resource's `uri`. */
const nameOf = (params: Record<string, unknown> | undefined): string => String(params?.name ?? params?.uri ?? '');

/** One call of a 2026-07-28 client at a child, across its rounds. */
export class Flight {
  readonly id = randomUUID();
  private readonly waiting = new Map<string, Question>();
  private readonly queued: Question[] = [];
  private asked = 0;
  private wake?: () => void;
  private outcome?: { result: Result } | { error: unknown };
  /** Whether a round is waiting on it (else the client holds its questions). */
  running = true;
  /** The client's capabilities, as its latest round declared them. */
  capabilities: Record<string, unknown>;
  /** Progress of the call goes to the round waiting on it. */
  progress?: (progress: Record<string, unknown>) => void;

  readonly user: string;
  readonly method: string;
  readonly name: string;
  private readonly cancel: AbortController;
  private readonly onEnd: (flight: Flight) => void;

  constructor(o: {
    user: string;
    method: string;
    name: string;
    capabilities: Record<string, unknown> | undefined;
    call: Promise<Result>;
    cancel: AbortController;
    onEnd: (flight: Flight) => void;
  }) {
    this.user = o.user;
    this.method = o.method;
    this.name = o.name;
    this.capabilities = o.capabilities ?? {};
    this.cancel = o.cancel;
    this.onEnd = o.onEnd;
    o.call.then(
      (result) => this.end({ result }),
      (error: unknown) => this.end({ error }),
    );
  }

  private end(outcome: { result: Result } | { error: unknown }): void {
    this.outcome = outcome;
    const unanswered = [...this.waiting.values(), ...this.queued];
    if (unanswered.length) {
      const gone = new McpError(ErrorCode.InvalidRequest, 'The request that asked this has ended');
      for (const q of unanswered) q.reject(gone);
    }
    this.waiting.clear();
    this.queued.length = 0;
    this.onEnd(this);
    this.wake?.();
  }

  /** A question of the child for this call's client: answered when the client retries. */
  ask(method: string, params: Record<string, unknown> | undefined): Promise<Result> {
    const { capability } = INPUT_REQUESTS[method as keyof typeof INPUT_REQUESTS];
    const mode = method === 'elicitation/create' && params?.mode === 'url' ? 'url' : 'form';
    const declared = this.capabilities[capability] as Record<string, unknown> | undefined;
    // A 2025 `elicitation: {}` means form only (MCP 2025-11-25, client/elicitation "Capabilities").
    const supported =
      declared !== undefined &&
      (capability !== 'elicitation' || mode in declared || (mode === 'form' && Object.keys(declared).length === 0));
    if (!supported) {
      const what = capability === 'elicitation' ? `${mode} elicitation` : capability;
      return Promise.reject(new McpError(ErrorCode.MethodNotFound, `The client does not support ${what}`));
    }
    return new Promise<Result>((resolve, reject) => {
      this.queued.push({ method, params: params ?? {}, resolve, reject });
      this.wake?.();
    });
  }

  /** The client's answers to the questions it was given; a question left unanswered is asked again. */
  answer(responses: Record<string, unknown> | undefined): void {
    for (const [key, q] of this.waiting) {
      const response = responses?.[key];
      if (response === undefined || response === null || typeof response !== 'object') continue;
      this.waiting.delete(key);
      q.resolve(response as Result);
    }
    this.queued.unshift(...this.waiting.values());
    this.waiting.clear();
  }

  /**
   * The call's result, or the questions to put to the client, whichever comes first. Questions
   * the child sends together (in one turn of the event loop) go out together.
   */
  async next(signal: AbortSignal): Promise<Result | InputRequiredResult> {
    this.running = true;
    while (!this.outcome && !this.queued.length && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    this.wake = undefined;
    if (!this.outcome && this.queued.length) await new Promise((resolve) => setImmediate(resolve));
    if (this.outcome) {
      if ('error' in this.outcome) throw this.outcome.error;
      return this.outcome.result;
    }
    if (signal.aborted) {
      // The client is gone while the call runs: nobody will retry, the call is cancelled.
      this.cancel.abort(signal.reason);
      throw signal.reason ?? new Error('aborted');
    }
    this.running = false;
    const inputRequests: Record<string, unknown> = {};
    for (const q of this.queued.splice(0)) {
      const key = `${q.method.split('/')[0]}-${++this.asked}`;
      this.waiting.set(key, q);
      // The 2026-07-28 request shapes: no `_meta` of the child's connection; URL elicitation
      // without the 2025 `elicitationId` (correlation is the requestState's).
      const { _meta, elicitationId, ...params } = q.params;
      void _meta;
      void elicitationId;
      inputRequests[key] = { method: q.method, params };
    }
    return { resultType: 'input_required', inputRequests } as InputRequiredResult;
  }
}

/** The flights of one proxy process, and the seal on their request state. */
export class Flights {
  private readonly parked = new Map<string, Flight>();
  private readonly key = randomBytes(32);
  private readonly ttlSeconds: number;

  constructor(requestTimeoutMs: number) {
    this.ttlSeconds = Math.max(1, Math.ceil(requestTimeoutMs / 1000));
  }

  /** The request-state codec for a front server serving `user`: sealed, expiring, bound to user and method. */
  codec(user: string) {
    return createRequestStateCodec<State>({
      key: this.key,
      ttlSeconds: this.ttlSeconds,
      bind: (ctx) => `${user}\0${ctx.mcpReq.method}`,
    });
  }

  /**
   * A new flight for a call, `send` making it (with the signal that cancels it); the flight is
   * forgotten, and `onEnd` called, when the call ends.
   */
  start(
    user: string,
    request: { method: string; params?: Record<string, unknown> },
    capabilities: Record<string, unknown> | undefined,
    send: (signal: AbortSignal, flight: () => Flight) => Promise<Result>,
    onEnd: (flight: Flight) => void,
  ): Flight {
    const cancel = new AbortController();
    // `send` runs first; the flight exists before any answer of the child can arrive.
    const call = send(cancel.signal, () => flight);
    const flight: Flight = new Flight({
      user,
      method: request.method,
      name: nameOf(request.params),
      capabilities,
      call,
      cancel,
      onEnd: (f) => {
        this.parked.delete(f.id);
        onEnd(f);
      },
    });
    return flight;
  }

  /** The parked flight a retry names, for the same user, method and name; else the SDK's -32602. */
  resume(
    state: State | undefined,
    user: string,
    request: { method: string; params?: Record<string, unknown> },
  ): Flight {
    const flight = state ? this.parked.get(state.flight) : undefined;
    if (!flight || flight.user !== user || flight.method !== request.method || flight.name !== nameOf(request.params)) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Invalid or expired requestState', {
        reason: 'invalid_request_state',
      });
    }
    this.parked.delete(flight.id);
    return flight;
  }

  /** One round of a flight: its result, or its questions with the sealed state to come back with. */
  async round(flight: Flight, call: ServerContext, codec: ReturnType<Flights['codec']>): Promise<Result> {
    const outcome = await flight.next(call.mcpReq.signal);
    if ((outcome as InputRequiredResult).resultType !== 'input_required') return outcome;
    this.parked.set(flight.id, flight);
    return { ...outcome, requestState: await codec.mint({ flight: flight.id }, call) };
  }

  get size(): number {
    return this.parked.size;
  }
}

/**
 * The flight a question of a child belongs to, of that child's flights (oldest first): the first
 * running one; else, while all are parked, the first (it asks at its next round).
 */
export function askedBy(flights: Iterable<Flight>): Flight | undefined {
  let first: Flight | undefined;
  for (const f of flights) {
    if (f.running) return f;
    first ??= f;
  }
  return first;
}
