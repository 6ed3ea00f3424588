/**
 * The check the end-to-end stacks run at stop() (tests/support/route-check.ts) can fail: a path
 * the local edge routed differently from the generated Traefik rules is reported.
 */
import { routeDisagreements } from '../support/route-check.ts';

test('agreement is silent', () => {
  expect(
    routeDisagreements([
      { method: 'GET', path: '/authorize/abc', route: 'auth' },
      { method: 'POST', path: '/echo-stateful/mcp', route: 'service' },
      { method: 'GET', path: '/verify', route: 'internal' },
      { method: 'GET', path: '/nothing', route: 'none' },
    ]),
  ).toEqual([]);
});

test('a disagreement is named with both destinations', () => {
  expect(
    routeDisagreements([
      { method: 'GET', path: '/verify', route: 'auth' },
      { method: 'GET', path: '/authorize/abc', route: 'none' },
      { method: 'POST', path: '/echo-stateful/mcp', route: 'auth' },
    ]),
  ).toEqual([
    'GET /verify: local edge → auth, Traefik → nowhere',
    'GET /authorize/abc: local edge → nowhere, Traefik → auth',
    'POST /echo-stateful/mcp: local edge → auth, Traefik → service echo-stateful',
  ]);
});

test('an empty recording proves nothing and says so', () => {
  expect(() => routeDisagreements([])).toThrow(/LOG_LEVEL=debug/);
});
