/**
 * Generates the deployment from the code it deploys, so the two cannot drift:
 *   traefik/dynamic/middlewares.yml   the chain (auth/src/edge/chain.ts), rate limits, security headers
 *   traefik/dynamic/auth-routes.yml   a router per auth path (auth/src/edge/routes.ts AUTH_ROUTES)
 *   docker-compose.yml                every container; MCP services from mcp-services/catalogue.ts,
 *                                     with their routers as labels (routes.ts serviceRoutes)
 *   docker-compose.sentinel.yml       Redis Sentinel instead of the one Redis (an override of
 *                                     docker-compose.yml, made from its Redis: deploy/sentinel-config.ts)
 * traefik/traefik.yml (static configuration) is written by hand.
 *
 *   node scripts/generate-deploy.ts --write [DIR]   write the files that changed
 *   node scripts/generate-deploy.ts --check [DIR]   exit 1 listing the files that differ
 * (DIR: another checkout's root, default this one. `npm run generate:deploy` writes.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { composeComments, composeFile } from './deploy/compose-config.ts';
import { header, renderYaml, type YamlFile } from './deploy/render.ts';
import { SENTINEL_COMPOSE_FILE, sentinelComments, sentinelComposeFile } from './deploy/sentinel-config.ts';
import { MCP_SERVICES } from './deploy/topology.ts';
import { authRoutesFile, middlewareComments, middlewaresFile } from './deploy/traefik-config.ts';

export const ROOT = new URL('../', import.meta.url);

const ROUTES = 'auth/src/edge/routes.ts';
const CHAIN = 'auth/src/edge/chain.ts';
const CATALOGUE = 'mcp-services/catalogue.ts';
const SENTINEL = 'scripts/deploy/sentinel-config.ts';

export const FILES: YamlFile[] = [
  {
    path: 'traefik/dynamic/middlewares.yml',
    header: header(
      [CHAIN],
      "Middlewares of Traefik's file provider (traefik/traefik.yml), referenced as `<name>@file`. Every MCP " +
        'service router runs mcp-chain, then strips its /<service> (its container labels).',
    ),
    value: middlewaresFile(),
    comments: middlewareComments(),
    spaced: [['http', 'middlewares']],
  },
  {
    path: 'traefik/dynamic/auth-routes.yml',
    header: header(
      [ROUTES],
      'The routers of the auth service: one per AUTH_ROUTES entry (exact: Path, prefix: PathPrefix). Nothing ' +
        'routes INTERNAL_ROUTES (/verify, /metrics, /health): Traefik answers 404 there. The host is BASE_DOMAIN ' +
        "from the Traefik container's environment (the file provider renders dynamic files as Go templates).",
    ),
    value: authRoutesFile(),
    spaced: [['http', 'routers']],
  },
  {
    path: 'docker-compose.yml',
    header: header(
      [CATALOGUE, ROUTES, CHAIN],
      'The production stack: Traefik (TLS, routing, ForwardAuth) -> auth, Redis, and one container per MCP ' +
        'service. Deploy with `just up` (docs/deployment.md): every `docker compose` goes through ' +
        'scripts/compose.ts, which enables the profile of each service MCP_<SERVICE>_ENABLED=true in .env and ' +
        "gives Compose each service's edge secret (MCP_<SERVICE>_EDGE_SECRET, derived from EDGE_SECRET).",
    ),
    value: composeFile(),
    comments: composeComments(),
    flow: MCP_SERVICES.map((name) => ['services', name, 'profiles']),
    quoted: [['services', 'traefik', 'ports']],
    spaced: [[], ['services']],
  },
  {
    path: SENTINEL_COMPOSE_FILE,
    header: header(
      [SENTINEL, 'scripts/deploy/compose-config.ts'],
      'Redis Sentinel instead of the one Redis of docker-compose.yml: a master (that Redis, with its data), a ' +
        'replica and three sentinels on the backend network, and the auth service asking the sentinels for the ' +
        'master. An override: Compose reads it after docker-compose.yml when .env says ' +
        '`COMPOSE_FILE=docker-compose.yml:docker-compose.sentinel.yml`, which `just up-sentinel` writes ' +
        '(docs/operations.md, "Redis Sentinel").',
    ),
    value: sentinelComposeFile(),
    comments: sentinelComments(),
    spaced: [[], ['services']],
  },
];

/** Every generated file's path and expected content. */
export async function generate(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const file of FILES) out.set(file.path, await renderYaml(file, ROOT));
  return out;
}

function current(root: URL, path: string): string | undefined {
  try {
    return readFileSync(new URL(path, root), 'utf8');
  } catch {
    return undefined;
  }
}

/** The generated files whose content under `root` differs from what the sources give. */
export async function staleFiles(root: URL = ROOT): Promise<string[]> {
  return [...(await generate())].filter(([path, text]) => current(root, path) !== text).map(([path]) => path);
}

async function main(argv: string[]): Promise<number> {
  const [mode, dir] = argv;
  if ((mode !== '--write' && mode !== '--check') || argv.length > 2) {
    process.stderr.write('usage: node scripts/generate-deploy.ts --write|--check [DIR]\n');
    return 64;
  }
  const root = dir ? pathToFileURL(`${dir.replace(/\/$/, '')}/`) : ROOT;
  const files = await generate();
  const stale = [...files].filter(([path, text]) => current(root, path) !== text);
  if (mode === '--check') {
    for (const [path] of stale) process.stderr.write(`generate-deploy: ${path} is stale (npm run generate:deploy)\n`);
    return stale.length ? 1 : 0;
  }
  for (const [path, text] of stale) {
    writeFileSync(new URL(path, root), text);
    process.stdout.write(`wrote ${path}\n`);
  }
  if (!stale.length) process.stdout.write('generate-deploy: every file is up to date\n');
  return 0;
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  process.exitCode = await main(process.argv.slice(2));
}
