/** The time service in-process, over Streamable HTTP with the official SDK client. */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createServiceHandler } from '../../mcp-services/shared/http-service.ts';
import {
  createTimeServer,
  formatDifference,
  localTimeZoneFromEnv,
  type TimeServiceOptions,
} from '../../mcp-services/time/src/time.ts';

const running: { server: Server; client: Client }[] = [];

async function start(options: TimeServiceOptions): Promise<Client> {
  const create = () => createTimeServer(options);
  const server = createServer(createServiceHandler({ name: 'time', stateful: false, create }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = new Client({ name: 'time-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
  running.push({ server, client });
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  const text = (result.content as { text: string }[])[0]?.text ?? '';
  return { text, isError: result.isError === true, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** The offset Intl gives for a zone at an instant, as ±HH:MM. */
function intlOffset(timeZone: string, instant: Date): string {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(instant)
    .find((p) => p.type === 'timeZoneName')?.value;
  return name === 'GMT' ? '+00:00' : (name ?? '').replace('GMT', '');
}

let live: Client; // the real clock
let march: Client; // 2025-03-15 12:00 UTC: the US is on DST, Europe not yet
let january: Client; // 2025-01-15 12:00 UTC: nobody north is on DST
const at = (iso: string) => () => new Date(iso);

beforeAll(async () => {
  live = await start({ localTimeZone: 'Europe/Warsaw' });
  march = await start({ localTimeZone: 'Europe/Warsaw', now: at('2025-03-15T12:00:00Z') });
  january = await start({ localTimeZone: 'Europe/Warsaw', now: at('2025-01-15T12:00:00Z') });
});

afterAll(async () => {
  for (const { server, client } of running) {
    await client.close();
    server.closeAllConnections();
    server.close();
  }
});

describe('get_current_time', () => {
  test.each(['UTC', 'Asia/Kolkata', 'America/New_York', 'Australia/Adelaide', 'Asia/Kathmandu'])(
    '%s now: structure, and the offset Intl gives',
    async (timezone) => {
      const result = await call(live, 'get_current_time', { timezone });
      expect(result.isError).toBe(false);
      const time = result.json();
      expect(Object.keys(time).sort()).toEqual(['datetime', 'day_of_week', 'is_dst', 'timezone']);
      expect(time.timezone).toBe(timezone);
      expect(time.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
      expect(typeof time.is_dst).toBe('boolean');
      const instant = new Date(time.datetime as string);
      expect((time.datetime as string).slice(-6)).toBe(intlOffset(timezone, instant));
      expect(time.day_of_week).toBe(
        new Intl.DateTimeFormat('en-US', { timeZone: timezone, weekday: 'long' }).format(instant),
      );
    },
  );

  test.each([
    ['Asia/Kolkata', '2025-03-15T17:30:00+05:30', false],
    ['America/New_York', '2025-03-15T08:00:00-04:00', true],
    ['Europe/London', '2025-03-15T12:00:00+00:00', false],
    ['Australia/Sydney', '2025-03-15T23:00:00+11:00', true],
    ['Asia/Kathmandu', '2025-03-15T17:45:00+05:45', false],
  ])('%s on a fixed clock', async (timezone, datetime, is_dst) => {
    const result = await call(march, 'get_current_time', { timezone });
    expect(result.json()).toEqual({ timezone, datetime, day_of_week: 'Saturday', is_dst });
  });

  test('the local time zone is named in the descriptions', async () => {
    const { tools } = await live.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['convert_time', 'get_current_time']);
    expect(JSON.stringify(tools)).toContain("Use 'Europe/Warsaw' as local timezone");
  });
});

describe('convert_time', () => {
  test('London to New York: -5h in January, -4h in the weeks between the US and EU switches', async () => {
    const args = { source_timezone: 'Europe/London', time: '09:00', target_timezone: 'America/New_York' };
    expect((await call(january, 'convert_time', args)).json()).toEqual({
      source: {
        timezone: 'Europe/London',
        datetime: '2025-01-15T09:00:00+00:00',
        day_of_week: 'Wednesday',
        is_dst: false,
      },
      target: {
        timezone: 'America/New_York',
        datetime: '2025-01-15T04:00:00-05:00',
        day_of_week: 'Wednesday',
        is_dst: false,
      },
      time_difference: '-5.0h',
    });
    const inMarch = (await call(march, 'convert_time', args)).json();
    expect(inMarch.target).toMatchObject({ datetime: '2025-03-15T05:00:00-04:00', is_dst: true });
    expect(inMarch.time_difference).toBe('-4.0h');
  });

  test('to a half-hour zone (Asia/Kolkata), across midnight', async () => {
    const args = { source_timezone: 'America/New_York', time: '20:15', target_timezone: 'Asia/Kolkata' };
    const result = (await call(march, 'convert_time', args)).json();
    expect(result.source).toMatchObject({ datetime: '2025-03-15T20:15:00-04:00', day_of_week: 'Saturday' });
    expect(result.target).toMatchObject({ datetime: '2025-03-16T05:45:00+05:30', day_of_week: 'Sunday' });
    expect(result.time_difference).toBe('+9.5h');
  });

  test('from Kolkata to UTC, and a quarter-hour zone', async () => {
    const toUtc = await call(march, 'convert_time', {
      source_timezone: 'Asia/Kolkata',
      time: '9:00',
      target_timezone: 'UTC',
    });
    expect(toUtc.json()).toMatchObject({ target: { datetime: '2025-03-15T03:30:00+00:00' }, time_difference: '-5.5h' });
    const nepal = await call(march, 'convert_time', {
      source_timezone: 'UTC',
      time: '00:00',
      target_timezone: 'Asia/Kathmandu',
    });
    expect(nepal.json().time_difference).toBe('+5.75h');
  });

  test('a time the clocks skip is an error; a time they pass twice is its first occurrence', async () => {
    const springForward = await start({ localTimeZone: 'UTC', now: at('2025-03-09T15:00:00Z') });
    const skipped = await call(springForward, 'convert_time', {
      source_timezone: 'America/New_York',
      time: '02:30',
      target_timezone: 'UTC',
    });
    expect(skipped).toMatchObject({
      isError: true,
      text: expect.stringContaining('does not exist in America/New_York'),
    });
    const fallBack = await start({ localTimeZone: 'UTC', now: at('2025-11-02T15:00:00Z') });
    const twice = await call(fallBack, 'convert_time', {
      source_timezone: 'America/New_York',
      time: '01:30',
      target_timezone: 'UTC',
    });
    expect(twice.json()).toMatchObject({
      source: { datetime: '2025-11-02T01:30:00-04:00', is_dst: true },
      target: { datetime: '2025-11-02T05:30:00+00:00' },
    });
  });
});

describe('invalid input', () => {
  test.each([
    ['get_current_time', { timezone: 'Mars/Olympus_Mons' }, 'Invalid timezone "Mars/Olympus_Mons"'],
    ['get_current_time', { timezone: '' }, 'Invalid timezone ""'],
    [
      'convert_time',
      { source_timezone: 'Nowhere', time: '10:00', target_timezone: 'UTC' },
      'Invalid timezone "Nowhere"',
    ],
    [
      'convert_time',
      { source_timezone: 'UTC', time: '10:00', target_timezone: 'Europe/Atlantis' },
      '"Europe/Atlantis"',
    ],
    ['convert_time', { source_timezone: 'UTC', time: '24:00', target_timezone: 'UTC' }, 'Invalid time "24:00"'],
    ['convert_time', { source_timezone: 'UTC', time: '10:60', target_timezone: 'UTC' }, 'Invalid time "10:60"'],
    ['convert_time', { source_timezone: 'UTC', time: '10.30', target_timezone: 'UTC' }, 'Invalid time "10.30"'],
    ['convert_time', { source_timezone: 'UTC', time: '10:30 PM', target_timezone: 'UTC' }, 'use 24-hour HH:MM'],
  ])('%s %j', async (tool, args, message) => {
    const result = await call(march, tool, args);
    expect(result.isError).toBe(true);
    expect(result.text).toContain(message);
  });

  test('a missing argument is a tool error, not a crash', async () => {
    const result = await call(march, 'convert_time', { source_timezone: 'UTC', time: '10:00' });
    expect(result.isError).toBe(true);
    expect(result.text).toContain('target_timezone');
  });
});

describe('helpers and settings', () => {
  test.each([
    [0, '+0.0h'],
    [60, '+1.0h'],
    [-300, '-5.0h'],
    [330, '+5.5h'],
    [345, '+5.75h'],
    [-570, '-9.5h'],
  ])('%i minutes is %s', (minutes, text) => expect(formatDifference(minutes)).toBe(text));

  test('MCP_TIME_LOCAL_TIMEZONE, else the system zone; an unknown zone is refused', () => {
    expect(localTimeZoneFromEnv({ MCP_TIME_LOCAL_TIMEZONE: 'Asia/Tokyo' })).toBe('Asia/Tokyo');
    expect(localTimeZoneFromEnv({})).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(() => localTimeZoneFromEnv({ MCP_TIME_LOCAL_TIMEZONE: 'Moon/Base' })).toThrow('MCP_TIME_LOCAL_TIMEZONE');
  });
});
