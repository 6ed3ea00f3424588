/**
 * tests/support/shared-result.ts: one computation per test run, whoever asks first; a failed one
 * leaves nothing behind, so the next asker computes it.
 */
import { randomUUID } from 'node:crypto';
import { sharedResult } from '../support/shared-result.ts';

test('asked three times at once: computed once, the same value for all', async () => {
  const key = `test-${randomUUID()}`;
  let computed = 0;
  const compute = async () => {
    computed += 1;
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { verdicts: [['ping', true]] };
  };
  const answers = await Promise.all([
    sharedResult(key, compute),
    sharedResult(key, compute),
    sharedResult(key, compute),
  ]);
  expect(computed).toBe(1);
  expect(answers).toEqual([answers[0], answers[0], answers[0]]);
  expect(await sharedResult(key, compute)).toEqual(answers[0]);
  expect(computed).toBe(1);
});

test('a computation that fails leaves no result and no lock: the next asker computes it', async () => {
  const key = `test-${randomUUID()}`;
  await expect(sharedResult(key, () => Promise.reject(new Error('suite crashed')))).rejects.toThrow('suite crashed');
  expect(await sharedResult(key, async () => 42, 2_000)).toBe(42);
});
