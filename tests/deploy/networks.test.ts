/**
 * Who can reach whom in the Compose stack, from the model `docker-compose config` resolves (every
 * profile on): two containers can talk only when they share a network. The intended matrix is
 * written out below and nothing else may share one: Traefik reaches every MCP service and auth,
 * auth reaches Redis. So no MCP service reaches another, nor auth (/verify, /metrics), nor Redis.
 * The same holds with Redis Sentinel (docker-compose.sentinel.yml), where Redis is five containers
 * (master, replica, three sentinels) that reach each other and are reached by auth alone.
 */
import { parse } from 'yaml';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';
import { SENTINEL_COMPOSE_FILE, SENTINEL_REDIS_CONTAINERS } from '../../scripts/deploy/sentinel-config.ts';
import { MCP_SERVICES, networkName, REDIS } from '../../scripts/deploy/topology.ts';
import { composeConfig, ENV } from '../support/compose-config.ts';

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STACKS = [
  { stack: 'docker-compose.yml', overrides: [], redis: [REDIS.container] },
  { stack: `with ${SENTINEL_COMPOSE_FILE}`, overrides: [SENTINEL_COMPOSE_FILE], redis: SENTINEL_REDIS_CONTAINERS },
];

describe.each(STACKS)('$stack', ({ overrides, redis }) => {
  const resolved: Yaml = (() => {
    const { status, stdout, stderr } = composeConfig(ENV, { overrides });
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
    ...redis.map((r): [string, string] => ['auth', r]),
    ...redis.flatMap((a, i) => redis.slice(i + 1).map((b): [string, string] => [a, b])),
    ...MCP_SERVICES.map((s): [string, string] => ['traefik', s]),
  ];
  const intended = (a: string, b: string): boolean =>
    INTENDED.some(([x, y]) => (x === a && y === b) || (x === b && y === a));

  test('the stack is every container of the catalogue, plus traefik, auth and Redis', () => {
    expect(containers).toEqual(['auth', ...redis, 'traefik', ...MCP_SERVICES].sort());
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
    // auth and Redis: the backend network has no way out either, and every Redis container is on it alone.
    const backend = networksOf(REDIS.container);
    expect(backend).toHaveLength(1);
    for (const r of redis) expect(networksOf(r)).toEqual(backend);
    expect(members(backend[0]!).sort()).toEqual(['auth', ...redis].sort());
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
    for (const r of redis) expect(outbound(r)).toEqual([]);
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
});
