/**
 * Who can reach whom in the Compose stack, from the model `docker-compose config` resolves (every
 * profile on): two containers can talk only when they share a network. The intended matrix is
 * written out below and nothing else may share one: Traefik reaches every MCP service and auth,
 * auth reaches Redis. So no MCP service reaches another, nor auth (/verify, /metrics), nor Redis.
 */
import { parse } from 'yaml';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';
import { MCP_SERVICES, networkName } from '../../scripts/deploy/topology.ts';
import { composeConfig } from '../support/compose-config.ts';

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const resolved: Yaml = (() => {
  const { status, stdout, stderr } = composeConfig();
  if (status !== 0) throw new Error(`docker-compose config failed: ${stderr}`);
  return parse(stdout);
})();
const containers = Object.keys(resolved.services).sort();
const networksOf = (container: string): string[] => {
  const n = resolved.services[container].networks;
  return Array.isArray(n) ? n : Object.keys(n ?? {});
};
const members = (network: string): string[] => containers.filter((c) => networksOf(c).includes(network));

/** The pairs that may share a network, each written once. */
const INTENDED: [string, string][] = [
  ['traefik', 'auth'],
  ['auth', 'redis'],
  ...MCP_SERVICES.map((s): [string, string] => ['traefik', s]),
];
const intended = (a: string, b: string): boolean =>
  INTENDED.some(([x, y]) => (x === a && y === b) || (x === b && y === a));

test('the stack is every container of the catalogue, plus traefik, auth and redis', () => {
  expect(containers).toEqual(['auth', 'redis', 'traefik', ...MCP_SERVICES].sort());
});

test('for every ordered pair of containers: they share a network exactly when intended', () => {
  const wrong: string[] = [];
  for (const a of containers) {
    for (const b of containers) {
      if (a === b) continue;
      const shared = networksOf(a).filter((n) => networksOf(b).includes(n));
      if (shared.length > 0 !== intended(a, b)) wrong.push(`${a} -> ${b}: shares [${shared.join(', ')}]`);
    }
  }
  expect(wrong).toEqual([]);
});

test('MCP service networks are internal, shared with Traefik alone', () => {
  for (const service of MCP_SERVICES) {
    const own = networksOf(service).filter((n) => members(n).includes('traefik'));
    expect(own).toHaveLength(1);
    expect(members(own[0]!).sort()).toEqual([service, 'traefik'].sort());
    expect(resolved.networks[own[0]!].internal).toBe(true);
  }
  // auth and Redis: the backend network has no way out either.
  const backend = networksOf('redis');
  expect(backend).toHaveLength(1);
  expect(members(backend[0]!).sort()).toEqual(['auth', 'redis']);
  expect(resolved.networks[backend[0]!].internal).toBe(true);
});

test('a way out only where the catalogue says why: a network of its own; Traefik and auth on theirs', () => {
  const outbound = (c: string) => networksOf(c).filter((n) => !resolved.networks[n].internal);
  for (const service of MCP_SERVICES) {
    const out = outbound(service);
    if (CATALOGUE[service]!.container.egress) {
      expect(out).toHaveLength(1);
      expect(members(out[0]!)).toEqual([service]);
    } else {
      expect(out).toEqual([]);
    }
  }
  // ACME for Traefik; the identity providers (GitHub, OIDC discovery) for auth.
  const [edge, ...rest] = outbound('traefik');
  expect(rest).toEqual([]);
  expect(outbound('auth')).toEqual([edge]);
  expect(members(edge!).sort()).toEqual(['auth', 'traefik']);
  expect(outbound('redis')).toEqual([]);
  expect(MCP_SERVICES.filter((s) => CATALOGUE[s]!.container.egress).sort()).toEqual(['fetch', 'playwright', 'tmux']);
});

test('only Traefik publishes ports', () => {
  for (const c of containers) {
    if (c === 'traefik') expect(resolved.services[c].ports.map((p: Yaml) => p.published)).toEqual([80, 443]);
    else expect(resolved.services[c].ports).toBeUndefined();
  }
});

test('Traefik reaches each MCP service on the one network they share (traefik.docker.network)', () => {
  for (const service of MCP_SERVICES) {
    const label = resolved.services[service].labels['traefik.docker.network'];
    const shared = networksOf(service).filter((n) => networksOf('traefik').includes(n));
    expect(shared).toHaveLength(1);
    // The label names Docker's network, which is the network's explicit name.
    expect(resolved.networks[shared[0]!].name).toBe(label);
    expect(label).toBe(networkName(shared[0]!));
  }
  // auth is reached by name (http://auth:8080) on the one network it shares with Traefik.
  expect(networksOf('auth').filter((n) => networksOf('traefik').includes(n))).toHaveLength(1);
});
