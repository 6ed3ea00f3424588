/**
 * A stdio server's notifications, for 2026-07-28 clients of the proxy (modern.ts), which hold no
 * GET stream and no session:
 *
 *   list changes, resource updates   published to the user's event bus, which the SDK's
 *                                    `subscriptions/listen` streams of that user read (each
 *                                    filtered by what the stream asked for). One bus per user:
 *                                    another user's streams never see them. A stream asking for
 *                                    updates of resources subscribes the user's children to them
 *                                    (`resources/subscribe`, MCP 2025-11-25), now and at start.
 *   log messages                     on the stream of the request in flight at that child whose
 *                                    `_meta` asked for a log level (MCP 2026-07-28: logging is
 *                                    per request), if the message is at that level or above; the
 *                                    oldest such request, stdio saying nothing of which it is.
 *
 * The bus is the SDK's in-process one (`InMemoryServerEventBus`): the proxy serves a user's
 * requests from one process.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  LoggingMessageNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
  type LoggingLevel,
} from '@modelcontextprotocol/sdk/types.js';
import { InMemoryServerEventBus, LOG_LEVEL_META_KEY, type ServerContext } from '@modelcontextprotocol/server';

/** RFC 5424 severities, in MCP's order (MCP 2025-11-25, server/utilities/logging). */
const LEVELS: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

/** The most resource URIs one user's children are subscribed to (the oldest give way). */
export const MAX_RESOURCE_SUBSCRIPTIONS = 256;

/** A request in flight at a child that asked for log messages. */
export interface LogListener {
  level: number;
  notify: (params: Record<string, unknown>) => void;
}

/** The log listener of a request (undefined: it asked for no log messages). */
export function logListener(call: ServerContext): LogListener | undefined {
  const asked = (call.mcpReq.envelope as Record<string, unknown> | undefined)?.[LOG_LEVEL_META_KEY];
  const level = LEVELS.indexOf(asked as LoggingLevel);
  if (level < 0) return undefined;
  return {
    level,
    // A request already answered (or a refusal of the SDK): the message has nobody to go to.
    notify: (params) => {
      try {
        call.mcpReq.notify({ method: 'notifications/message', params }).catch(() => undefined);
      } catch {
        // dropped
      }
    },
  };
}

/** One user's notifications: their bus, and the resources their listen streams asked about. */
export class UserChannel {
  readonly bus = new InMemoryServerEventBus();
  /** Resource URIs asked for by a listen stream of the user, oldest first. */
  readonly resources = new Set<string>();

  /** Resource URIs a listen request asks for, kept for the user's children (bounded). */
  want(uris: readonly string[]): string[] {
    const fresh = uris.filter((u) => !this.resources.has(u));
    for (const uri of fresh) {
      this.resources.add(uri);
      if (this.resources.size > MAX_RESOURCE_SUBSCRIPTIONS)
        this.resources.delete(this.resources.values().next().value!);
    }
    return fresh;
  }
}

/**
 * Relays a child's notifications: changes to its user's channel, log messages to the oldest
 * listening request of `logListeners` (the child's requests in flight).
 */
export function relayNotifications(client: Client, channel: () => UserChannel, logListeners: Set<LogListener>): void {
  client.setNotificationHandler(ToolListChangedNotificationSchema, () =>
    channel().bus.publish({ kind: 'tools_list_changed' }),
  );
  client.setNotificationHandler(PromptListChangedNotificationSchema, () =>
    channel().bus.publish({ kind: 'prompts_list_changed' }),
  );
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () =>
    channel().bus.publish({ kind: 'resources_list_changed' }),
  );
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) =>
    channel().bus.publish({ kind: 'resource_updated', uri: n.params.uri }),
  );
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    const level = LEVELS.indexOf(n.params.level);
    for (const listener of logListeners) {
      if (level < listener.level) continue;
      listener.notify(n.params);
      return;
    }
  });
}
