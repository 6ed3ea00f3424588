/**
 * Registrations per address (REGISTRATION_LIMIT; issue 14, "bounded everything"): over the limit
 * within an hour, RFC 7591 registration answers 429 with Retry-After and an OAuth-shaped body,
 * logged once per address; other addresses, and loopback ones, are not affected.
 */
import { startAuth, type RunningAuth } from '../support/auth-server.ts';

let gw: RunningAuth;
beforeAll(async () => {
  gw = await startAuth({ localPassword: 'x', env: { TRUST_PROXY: 'true', REGISTRATION_LIMIT: '3' } });
});
afterAll(() => gw.stop());

const register = (from?: string) =>
  fetch(`${gw.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(from ? { 'x-forwarded-for': from } : {}) },
    body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:9999/cb'], token_endpoint_auth_method: 'none' }),
  });

test('the fourth registration from one address within the hour: 429, Retry-After, logged once', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await register('203.0.113.9')).status);
  expect(statuses).toEqual([201, 201, 201]);
  const refused = await register('203.0.113.9');
  expect(refused.status).toBe(429);
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
  const body = (await refused.json()) as { error: string; error_description: string };
  expect(body.error).toBe('too_many_requests');
  expect(body.error_description).toMatch(/at most 3 an hour/);
  expect((await register('203.0.113.9')).status).toBe(429);
  expect(
    gw.logs.filter((l) => l.msg === 'registration limit reached for this address; refused until the hour ends'),
  ).toHaveLength(1);
  // Another address, and loopback (npm start on one machine), are not affected.
  expect((await register('203.0.113.10')).status).toBe(201);
  for (let i = 0; i < 5; i++) expect((await register()).status).toBe(201);
});
