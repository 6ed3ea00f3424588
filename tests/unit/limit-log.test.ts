/** contracts/limit-log.ts: a limit is logged once per key and interval, with what was not logged. */
import { LimitLog, limitLogOf } from '../../contracts/limit-log.ts';

function recorder() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    lines,
    log: { warn: (fields: Record<string, unknown>, message: string) => void lines.push({ fields, message }) },
  };
}

test('the first hit of a limit for a key is logged; the others within the interval are counted', () => {
  const { lines, log } = recorder();
  const limits = new LimitLog(log, 1000);
  for (let i = 0; i < 5; i++) limits.hit('sessions per user', 'github:1', { max: 10 }, 10_000 + i);
  limits.hit('sessions per user', 'github:2', { max: 10 }, 10_010);
  limits.hit('message size', 'github:1', {}, 10_020);
  expect(lines.map((l) => [l.message, l.fields.key])).toEqual([
    ['limit reached: sessions per user', 'github:1'],
    ['limit reached: sessions per user', 'github:2'],
    ['limit reached: message size', 'github:1'],
  ]);
  expect(lines[0]!.fields).toEqual({ limit: 'sessions per user', key: 'github:1', max: 10 });
  // After the interval: logged again, saying how many were not.
  limits.hit('sessions per user', 'github:1', { max: 10 }, 11_000);
  expect(lines.at(-1)!.fields).toMatchObject({ key: 'github:1', notLoggedSince: 4 });
  limits.hit('sessions per user', 'github:1', { max: 10 }, 12_001);
  expect(lines.at(-1)!.fields).not.toHaveProperty('notLoggedSince');
});

test('its memory is bounded: the oldest keys are forgotten first', () => {
  const { lines, log } = recorder();
  const limits = new LimitLog(log, 60_000);
  for (let i = 0; i <= 10_000; i++) limits.hit('x', `key ${i}`, {}, 1);
  expect(lines).toHaveLength(10_001);
  limits.hit('x', 'key 0', {}, 2); // forgotten: logged again
  limits.hit('x', 'key 10000', {}, 2); // remembered: not
  expect(lines).toHaveLength(10_002);
});

test('one LimitLog per logger', () => {
  const { log } = recorder();
  expect(limitLogOf(log)).toBe(limitLogOf(log));
  expect(limitLogOf(recorder().log)).not.toBe(limitLogOf(log));
});
