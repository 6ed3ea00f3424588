/**
 * Time and time zone conversion with Intl only: a native replacement for the reference Python
 * mcp-server-time, with the same tools and result shapes.
 */
import { McpServer } from '@modelcontextprotocol/server';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface TimeResult {
  timezone: string;
  /** ISO 8601 with the zone's offset, to the second: 2025-03-15T17:30:00+05:30 */
  datetime: string;
  day_of_week: string;
  is_dst: boolean;
}

export interface ConversionResult {
  source: TimeResult;
  target: TimeResult;
  /** Target minus source offset, as the reference writes it: "+5.5h", "-4.0h". */
  time_difference: string;
}

/** A message for the caller: the tool answers with it as an error. */
export class TimeError extends Error {}

/** Returns the name if Intl knows the time zone; throws TimeError otherwise. */
export function checkTimeZone(name: string): string {
  const zone = name.trim();
  try {
    if (zone) new Intl.DateTimeFormat('en-US', { timeZone: zone });
    else throw new RangeError();
  } catch {
    throw new TimeError(`Invalid timezone "${name}": use an IANA time zone name such as Europe/Paris or Asia/Kolkata.`);
  }
  return zone;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: string;
  /** Minutes east of UTC. */
  offset: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(timeZone: string, instant: Date): WallClock {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'long',
      timeZoneName: 'longOffset',
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
  // "GMT+05:30", "GMT-04:00", or "GMT" alone for UTC itself.
  const [, sign = '+', hours = '0', minutes = '0'] = /GMT([+-])(\d\d):(\d\d)/.exec(parts.timeZoneName ?? '') ?? [];
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: parts.weekday ?? '',
    offset: (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)),
  };
}

const offsetAt = (timeZone: string, ms: number) => wallClock(timeZone, new Date(ms)).offset;
const pad = (n: number, width = 2) => String(Math.abs(n)).padStart(width, '0');

/**
 * Daylight saving time: the offset is ahead of the zone's standard offset that year, taken as
 * the smaller of its January and July offsets (zones with DST spend one of them on it).
 */
function isDst(timeZone: string, instant: Date, offset: number): boolean {
  const year = instant.getUTCFullYear();
  const standard = Math.min(offsetAt(timeZone, Date.UTC(year, 0, 1)), offsetAt(timeZone, Date.UTC(year, 6, 1)));
  return offset > standard;
}

export function timeIn(timeZone: string, instant: Date): TimeResult {
  const w = wallClock(timeZone, instant);
  const offset = `${w.offset < 0 ? '-' : '+'}${pad(Math.trunc(w.offset / 60))}:${pad(w.offset % 60)}`;
  return {
    timezone: timeZone,
    datetime: `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${offset}`,
    day_of_week: w.weekday,
    is_dst: isDst(timeZone, instant, w.offset),
  };
}

/** Python's `f"{hours:+.1f}h"` for whole hours, `+.2f` with trailing zeros cut for the rest. */
export function formatDifference(minutes: number): string {
  const hours = minutes / 60;
  const sign = hours < 0 ? '-' : '+';
  if (Number.isInteger(hours)) return `${sign}${Math.abs(hours).toFixed(1)}h`;
  return `${sign}${Math.abs(hours)
    .toFixed(2)
    .replace(/\.?0+$/, '')}h`;
}

/**
 * `time` (HH:MM, 24-hour) today in the source zone, shown in both zones. A time that the
 * source zone skips (spring forward) is an error; one it passes twice (fall back) is its first.
 */
export function convertTime(source: string, time: string, target: string, now: Date): ConversionResult {
  const match = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(time.trim());
  if (!match) throw new TimeError(`Invalid time "${time}": use 24-hour HH:MM, such as 09:30 or 17:45.`);
  const today = wallClock(source, now);
  const asUtc = Date.UTC(today.year, today.month - 1, today.day, Number(match[1]), Number(match[2]));
  // The zone's offsets a day either side; the wall time is an instant under whichever of them holds there.
  const offsets = new Set([offsetAt(source, asUtc - 86_400_000), offsetAt(source, asUtc + 86_400_000)]);
  const instants = [...offsets]
    .map((offset) => asUtc - offset * 60_000)
    .filter((ms) => offsetAt(source, ms) * 60_000 === asUtc - ms)
    .sort((a, b) => a - b);
  const instant = instants[0];
  if (instant === undefined) {
    const date = `${pad(today.year, 4)}-${pad(today.month)}-${pad(today.day)}`;
    throw new TimeError(`${time} does not exist in ${source} on ${date}: the clocks skip it (daylight saving time).`);
  }
  const at = new Date(instant);
  return {
    source: timeIn(source, at),
    target: timeIn(target, at),
    time_difference: formatDifference(offsetAt(target, instant) - offsetAt(source, instant)),
  };
}

export interface TimeServiceOptions {
  /** IANA name named in the tool descriptions as the caller's default. */
  localTimeZone: string;
  /** The clock; tests fix it. */
  now?: () => Date;
}

/** MCP_TIME_LOCAL_TIMEZONE, else the system's zone (TZ). Throws on an unknown zone. */
export function localTimeZoneFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.MCP_TIME_LOCAL_TIMEZONE?.trim();
  if (!configured) return Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    return checkTimeZone(configured);
  } catch (error) {
    throw new Error(`MCP_TIME_LOCAL_TIMEZONE: ${(error as Error).message}`);
  }
}

function answer(produce: () => unknown): CallToolResult {
  try {
    return { content: [{ type: 'text', text: JSON.stringify(produce(), null, 2) }] };
  } catch (error) {
    const message = error instanceof TimeError ? error.message : `Failed: ${(error as Error).message}`;
    return { content: [{ type: 'text', text: message }], isError: true };
  }
}

export function createTimeServer(options: TimeServiceOptions): McpServer {
  const now = options.now ?? (() => new Date());
  const local = options.localTimeZone;
  const server = new McpServer({ name: 'time', version: '0.1.0' });
  // Worded as the reference's, local zone included: the model fills it in when the user names none.
  const zone = (what: string) =>
    z
      .string()
      .describe(
        `${what} (e.g. 'America/New_York', 'Europe/London'). Use '${local}' as local timezone if no ` +
          'timezone provided by the user.',
      );
  server.registerTool(
    'get_current_time',
    {
      description: 'Get current time in a specific timezone',
      inputSchema: { timezone: zone('IANA timezone name') },
      annotations: { readOnlyHint: true },
    },
    async ({ timezone }) => answer(() => timeIn(checkTimeZone(timezone), now())),
  );
  server.registerTool(
    'convert_time',
    {
      description: 'Convert time between timezones',
      inputSchema: {
        source_timezone: zone('Source IANA timezone name'),
        time: z.string().describe('Time to convert in 24-hour format (HH:MM)'),
        target_timezone: zone('Target IANA timezone name'),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ source_timezone, time, target_timezone }) =>
      answer(() => convertTime(checkTimeZone(source_timezone), time, checkTimeZone(target_timezone), now())),
  );
  return server;
}
