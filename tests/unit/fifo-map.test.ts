import { FifoMap } from '../../auth/src/verify/fifo-map.ts';

test('bounded: the oldest insertion leaves first; setting a present key again does not renew it', () => {
  const m = new FifoMap<string, number>(3);
  m.set('a', 1);
  m.set('b', 2);
  m.set('c', 3);
  m.set('a', 10); // present: updated in place, still the oldest
  m.set('d', 4);
  expect([...m.entries()]).toEqual([
    ['b', 2],
    ['c', 3],
    ['d', 4],
  ]);
  expect(m.get('a')).toBeUndefined();
});

test('never above its bound, whatever the deletions and re-insertions', () => {
  const m = new FifoMap<number, number>(50);
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) % 120;
  for (let i = 0; i < 20_000; i++) {
    const key = random();
    if (i % 3 === 0) m.delete(key);
    else m.set(key, i);
    expect(m.size).toBeLessThanOrEqual(50);
  }
});

test('clear empties it and it fills again', () => {
  const m = new FifoMap<string, number>(2);
  m.set('a', 1);
  m.clear();
  expect(m.size).toBe(0);
  m.set('b', 2);
  m.set('c', 3);
  m.set('d', 4);
  expect([...m.entries()].map(([k]) => k)).toEqual(['c', 'd']);
});
