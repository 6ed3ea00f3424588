/**
 * A model of how Traefik v3 routes a request of the Compose stack, built from the generated
 * configuration as Traefik reads it (no Traefik binary here):
 *   - traefik/traefik.yml: the websecure entry point and its middlewares;
 *   - traefik/dynamic/*.yml (file provider), rendered as Traefik renders them (Go templates:
 *     `{{ env "BASE_DOMAIN" }}`);
 *   - the labels of docker-compose.yml's containers (docker provider), `${BASE_DOMAIN}`
 *     interpolated as Compose does; every container counts (every profile enabled).
 * A request's path is read as Traefik reads it (auth/src/edge/routes.ts normalizeTarget: encoded
 * reserved characters refused, unreserved ones decoded, dot segments and duplicate slashes removed);
 * routers match it by their rules (Host, Path, PathPrefix, PathRegexp, !, &&, ||); the matching
 * router of highest priority wins. Docs: doc.traefik.io/traefik/v3.6/reference/routing-configuration/
 * http/routing/rules-and-priority/, security/request-path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { normalizeTarget } from '../../auth/src/edge/routes.ts';
import { AUTH } from '../../scripts/deploy/topology.ts';

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const ENTRY_POINT = 'websecure';

export type Routed =
  | { kind: 'rejected' }
  | { kind: 'none' }
  | { kind: 'auth'; router: string }
  | { kind: 'service'; service: string; router: string; middlewares: string[] };

export interface Router {
  /** Qualified: `<name>@file` or `<name>@docker`. */
  name: string;
  provider: 'file' | 'docker';
  rule: string;
  priority: number;
  entryPoints: string[];
  /** Qualified, as the router lists them (chains not expanded). */
  middlewares: string[];
  /** Qualified. */
  service: string;
}

export interface Backend {
  /** Where Traefik sends requests: `http://<container>:<port>`, or a remote server's origin. */
  url: string;
  container: string;
  port: number;
  /** loadBalancer.passHostHeader (default true). */
  passHostHeader?: boolean;
  /** The servers transport's definition (serversTransports), when one is named. */
  transport?: Yaml;
}

interface Request {
  host: string;
  path: string;
}
type Matcher = (req: Request) => boolean;

/** The host a Host matcher compares: lower case, no port (pkg/middlewares/requestdecorator). */
function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']'));
  return h.includes(':') ? h.slice(0, h.lastIndexOf(':')) : h;
}

/** Traefik's Host matcher (pkg/muxer/http/matcher.go): exact, either side may end with a dot. */
function hostMatches(ruleHost: string, reqHost: string): boolean {
  const rule = ruleHost.toLowerCase();
  const req = canonicalHost(reqHost);
  return (
    req === rule ||
    (rule.endsWith('.') && req === rule.slice(0, -1)) ||
    (req.endsWith('.') && req.slice(0, -1) === rule)
  );
}

/** Compiles a router rule; throws on anything outside the subset, so a new construct fails here. */
export function compileRule(rule: string): Matcher {
  const tokens = rule.match(/\s*(&&|\|\||!|\(|\)|[A-Za-z]+\s*\((?:\s*`[^`]*`\s*,?)*\s*\))\s*/gy);
  if (!tokens || tokens.join('') !== rule) throw new Error(`cannot parse rule: ${rule}`);
  const list = tokens.map((t) => t.trim());
  let at = 0;
  function primary(): Matcher {
    const t = list[at++];
    if (t === undefined) throw new Error(`rule ends early: ${rule}`);
    if (t === '!') {
      const inner = primary();
      return (r) => !inner(r);
    }
    if (t === '(') {
      const inner = or();
      if (list[at++] !== ')') throw new Error(`missing ) in ${rule}`);
      return inner;
    }
    const m = /^([A-Za-z]+)\s*\((.*)\)$/.exec(t);
    const args = [...(m?.[2] ?? '').matchAll(/`([^`]*)`/g)].map((a) => a[1] ?? '');
    if (args.length !== 1) throw new Error(`${t}: one argument expected`);
    const arg = args[0]!;
    switch (m?.[1]) {
      case 'Host':
        return (r) => hostMatches(arg, r.host);
      case 'Path':
        return (r) => r.path === arg;
      case 'PathPrefix':
        return (r) => r.path.startsWith(arg);
      case 'PathRegexp': {
        const re = new RegExp(arg);
        return (r) => re.test(r.path);
      }
      default:
        throw new Error(`${t}: matcher outside the modelled subset`);
    }
  }
  function and(): Matcher {
    let left = primary();
    while (list[at] === '&&') {
      at++;
      const l = left;
      const right = primary();
      left = (r) => l(r) && right(r);
    }
    return left;
  }
  function or(): Matcher {
    let left = and();
    while (list[at] === '||') {
      at++;
      const l = left;
      const right = and();
      left = (r) => l(r) || right(r);
    }
    return left;
  }
  const matcher = or();
  if (at !== list.length) throw new Error(`unexpected ${list[at]} in ${rule}`);
  return matcher;
}

/** The file provider's Go templating, for the one function the generated files use. */
function renderTemplate(text: string, env: Record<string, string>): string {
  const out = text.replace(/\{\{\s*env\s+"([A-Z_]+)"\s*\}\}/g, (_m, name: string) => {
    if (env[name] === undefined) throw new Error(`template reads ${name}, which the model does not set`);
    return env[name];
  });
  if (out.includes('{{')) throw new Error('a template construct outside the modelled subset');
  return out;
}

/** Compose interpolation of a label (only ${BASE_DOMAIN} is expected there). */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_]+)\}|\$\{[^}]*\}/g, (m, name?: string) => {
    if (!name || env[name] === undefined) throw new Error(`label uses ${m}, which the model does not set`);
    return env[name];
  });
}

const qualify = (ref: string, provider: string): string => (ref.includes('@') ? ref : `${ref}@${provider}`);

/** A docker-provider middleware from its labels (`<type>.<option>=value`), as Traefik's label parser reads it. */
function labelMiddleware(options: Record<string, string>): Yaml {
  const entries = Object.entries(options);
  if (entries.length === 1 && entries[0]![0].toLowerCase() === 'stripprefix.prefixes') {
    return { stripPrefix: { prefixes: entries[0]![1].split(',') } };
  }
  throw new Error(`label middleware outside the modelled subset: ${JSON.stringify(options)}`);
}

export interface TraefikModel {
  staticConfig: Yaml;
  /** docker-compose.yml, parsed (not interpolated). */
  compose: Yaml;
  routers: Router[];
  /** Every middleware by qualified name (`<name>@file`, `<name>@docker`): its definition. */
  middlewares: ReadonlyMap<string, Yaml>;
  /** Every load balancer by qualified name. */
  services: ReadonlyMap<string, Backend>;
  /** Middlewares, chains expanded, in the order a request goes through them. */
  flatten(refs: string[], provider?: 'file' | 'docker'): string[];
  /** Every router of the websecure entry point matching host and path. */
  matching(host: string, path: string): Router[];
  /** The router Traefik picks: 'rejected' (400), or null (404). */
  pick(host: string, target: string): Router | null | 'rejected';
  /** Where a request goes, in the route table's terms. */
  route(host: string, target: string): Routed;
}

/**
 * `extra`: dynamic files that are not committed, as Traefik would find them in traefik/dynamic
 * (remote-services.yml, written from .env by scripts/compose.ts).
 */
export function loadTraefikModel(domain: string, extra: { name: string; text: string }[] = []): TraefikModel {
  const env = { BASE_DOMAIN: domain };
  const staticConfig: Yaml = parse(read('traefik/traefik.yml'));
  const compose: Yaml = parse(read('docker-compose.yml'));
  const routers: Router[] = [];
  const middlewares = new Map<string, Yaml>();
  const services = new Map<string, Backend>();
  const add = <T>(map: Map<string, T>, name: string, value: T) => {
    if (map.has(name)) throw new Error(`${name} is defined twice`);
    map.set(name, value);
  };

  // File provider: every file of traefik/dynamic, rendered as a template, then read as YAML.
  const committed = readdirSync(new URL('traefik/dynamic/', ROOT))
    .filter((f) => /\.ya?ml$/.test(f) && !extra.some((e) => e.name === f))
    .sort()
    .map((name) => ({ name, text: read(`traefik/dynamic/${name}`) }));
  for (const file of [...committed, ...extra]) {
    const http: Yaml = parse(renderTemplate(file.text, env))?.http ?? {};
    const transports: Yaml = http.serversTransports ?? {};
    for (const [name, def] of Object.entries<Yaml>(http.middlewares ?? {})) add(middlewares, `${name}@file`, def);
    for (const [name, def] of Object.entries<Yaml>(http.routers ?? {})) {
      routers.push({
        name: `${name}@file`,
        provider: 'file',
        rule: def.rule,
        priority: def.priority ?? def.rule.length,
        entryPoints: def.entryPoints ?? [],
        middlewares: (def.middlewares ?? []).map((m: string) => qualify(m, 'file')),
        service: qualify(def.service, 'file'),
      });
    }
    for (const [name, def] of Object.entries<Yaml>(http.services ?? {})) {
      const servers = def.loadBalancer?.servers as { url: string }[];
      if (servers?.length !== 1) throw new Error(`${name}: one server expected`);
      const url = new URL(servers[0]!.url);
      const transport = def.loadBalancer?.serversTransport as string | undefined;
      if (transport !== undefined && !transports[transport])
        throw new Error(`${name}: no servers transport ${transport}`);
      add(services, `${name}@file`, {
        url: url.origin,
        container: url.hostname,
        port: Number(url.port),
        ...(def.loadBalancer?.passHostHeader === false ? { passHostHeader: false } : {}),
        ...(transport !== undefined ? { transport: transports[transport] as Yaml } : {}),
      });
    }
  }

  // Docker provider: the labels of every container with traefik.enable=true.
  for (const [container, def] of Object.entries<Yaml>(compose.services)) {
    const raw: Record<string, string> = Array.isArray(def.labels)
      ? Object.fromEntries(
          (def.labels as string[]).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        )
      : (def.labels ?? {});
    const labels = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, interpolate(String(v), env)]));
    if (labels['traefik.enable'] !== 'true') continue;
    const groups = (kind: string) => {
      const out = new Map<string, Record<string, string>>();
      for (const [key, value] of Object.entries(labels)) {
        const m = new RegExp(`^traefik\\.http\\.${kind}\\.([^.]+)\\.(.+)$`).exec(key);
        if (!m) continue;
        if (!out.has(m[1]!)) out.set(m[1]!, {});
        out.get(m[1]!)![m[2]!] = value;
      }
      return out;
    };
    for (const [name, r] of groups('routers')) {
      routers.push({
        name: `${name}@docker`,
        provider: 'docker',
        rule: r.rule ?? '',
        priority: Number(r.priority ?? (r.rule ?? '').length),
        entryPoints: (r.entrypoints ?? '').split(',').filter(Boolean),
        middlewares: (r.middlewares ?? '')
          .split(',')
          .filter(Boolean)
          .map((m) => qualify(m, 'docker')),
        service: qualify(r.service ?? '', 'docker'),
      });
    }
    for (const [name, options] of groups('middlewares')) add(middlewares, `${name}@docker`, labelMiddleware(options));
    for (const [name, s] of groups('services')) {
      const port = Number(s['loadbalancer.server.port']);
      add(services, `${name}@docker`, { url: `http://${container}:${port}`, container, port });
    }
  }

  function flatten(refs: string[], provider: 'file' | 'docker' = 'file'): string[] {
    return refs.flatMap((ref) => {
      const name = qualify(ref, provider);
      const def = middlewares.get(name);
      if (!def) throw new Error(`${name}: no such middleware`);
      return def.chain
        ? flatten(def.chain.middlewares as string[], name.endsWith('@docker') ? 'docker' : 'file')
        : [name];
    });
  }

  const websecure = staticConfig.entryPoints[ENTRY_POINT];
  const compiled = routers
    // Routers naming no entry point attach to the asDefault ones.
    .filter((r) => (r.entryPoints.length ? r.entryPoints.includes(ENTRY_POINT) : websecure.asDefault === true))
    .map((router) => ({ router, match: compileRule(router.rule) }));
  const entryPointMiddlewares: string[] = websecure.http?.middlewares ?? [];

  const matching = (host: string, path: string): Router[] =>
    compiled.filter((c) => c.match({ host, path })).map((c) => c.router);

  function pick(host: string, target: string): Router | null | 'rejected' {
    const normalized = normalizeTarget(target);
    if (normalized === 'rejected') return 'rejected';
    const found = matching(host, normalized.path).sort((a, b) => b.priority - a.priority);
    if (found.length > 1 && found[0]!.priority === found[1]!.priority) {
      throw new Error(`${target}: ${found[0]!.name} and ${found[1]!.name} match with the same priority`);
    }
    return found[0] ?? null;
  }

  function route(host: string, target: string): Routed {
    const router = pick(host, target);
    if (router === 'rejected') return { kind: 'rejected' };
    if (router === null) return { kind: 'none' };
    const backend = services.get(router.service);
    if (!backend) throw new Error(`${router.name}: no service ${router.service}`);
    if (backend.container === AUTH.container) return { kind: 'auth', router: router.name };
    return {
      kind: 'service',
      service: backend.container,
      router: router.name,
      middlewares: flatten([...entryPointMiddlewares, ...router.middlewares]),
    };
  }

  return { staticConfig, compose, routers, middlewares, services, flatten, matching, pick, route };
}
