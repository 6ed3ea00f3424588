/**
 * Resumable streams (MCP 2025-11-25, basic/transports, "Resumability and Redelivery"): the events
 * a session's SSE streams carried, kept so that a client that lost a stream can ask for the rest
 * with `Last-Event-ID`. The SDK's Streamable HTTP transport uses it (`eventStore`): it sends a
 * priming event with an event id at the start of each stream, and replays what came after a
 * given id on a GET that carries it.
 *
 * One store per session (the native services' and the stdio proxy's), so a replay can only ever
 * be of that session's own streams, and sessions are bound to their user. Bounded: at most
 * `eventsPerStream` events a stream (the oldest dropped first), `streams` streams (the least
 * recently written dropped first), and `bytes` in all (the oldest events of the least recently
 * written streams dropped first). Event ids are random, so they cannot be guessed.
 * In memory: a restart of the service ends its sessions anyway.
 */
import { randomBytes } from 'node:crypto';
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface EventStoreLimits {
  eventsPerStream: number;
  streams: number;
  /** Bytes of messages (as JSON) held in all, the oldest events of the least recent streams dropped first. */
  bytes: number;
}

export const DEFAULT_EVENT_STORE_LIMITS: EventStoreLimits = {
  eventsPerStream: 500,
  streams: 64,
  bytes: 16 * 1024 * 1024,
};

interface Stored {
  id: EventId;
  message: JSONRPCMessage;
  bytes: number;
}

export class SessionEventStore implements EventStore {
  private readonly limits: EventStoreLimits;
  /** Streams in order of their last write (Map order: delete and set again moves one last). */
  private readonly streams = new Map<StreamId, Stored[]>();
  private readonly streamOf = new Map<EventId, StreamId>();
  private bytes = 0;

  constructor(limits: EventStoreLimits = DEFAULT_EVENT_STORE_LIMITS) {
    this.limits = limits;
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    const id = randomBytes(16).toString('base64url');
    const events = this.streams.get(streamId) ?? [];
    this.streams.delete(streamId);
    this.streams.set(streamId, events);
    const bytes = Buffer.byteLength(JSON.stringify(message));
    events.push({ id, message, bytes });
    this.bytes += bytes;
    this.streamOf.set(id, streamId);
    if (events.length > this.limits.eventsPerStream) this.forget(events.shift()!);
    if (this.streams.size > this.limits.streams) {
      const [oldest, dropped] = this.streams.entries().next().value as [StreamId, Stored[]];
      this.streams.delete(oldest);
      for (const e of dropped) this.forget(e);
    }
    while (this.bytes > this.limits.bytes) {
      const first = this.streams.entries().next().value as [StreamId, Stored[]] | undefined;
      if (!first) break;
      const dropped = first[1].shift();
      if (dropped) this.forget(dropped);
      if (!first[1].length) this.streams.delete(first[0]);
    }
    return id;
  }

  private forget(event: Stored): void {
    this.streamOf.delete(event.id);
    this.bytes -= event.bytes;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.streamOf.get(eventId);
  }

  /** The events after `lastEventId` on its stream, in order; '' for an id this store does not hold. */
  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const streamId = this.streamOf.get(lastEventId);
    const events = streamId === undefined ? undefined : this.streams.get(streamId);
    if (streamId === undefined || !events) return '';
    const after = events.findIndex((e) => e.id === lastEventId);
    // The priming event ({}, the SDK's) marks a stream's start; it is never sent again.
    for (const e of events.slice(after + 1)) if ('jsonrpc' in e.message) await send(e.id, e.message);
    return streamId;
  }

  /** Events held, for tests and /health. */
  get size(): number {
    return this.streamOf.size;
  }

  /** Bytes of the messages held. */
  get heldBytes(): number {
    return this.bytes;
  }
}
