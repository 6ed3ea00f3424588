/**
 * Every `docker compose` of the production stack goes through here (the justfile's recipes):
 *   node scripts/compose.ts [--dotenv FILE] [--all] <docker compose arguments…>
 *   node scripts/compose.ts [--dotenv FILE] --services      the enabled services, one line
 * (`--dotenv`, not `--env-file`: Node takes that one for itself wherever it is.)
 * It reads .env (or FILE), then runs `docker compose` with
 *   - `--profile <service>` for each MCP service enabled there (MCP_<SERVICE>_ENABLED=true,
 *     docs/configuration.md), or for every service of docker-compose.yml with --all (down, logs, ps: a
 *     container started while its service was enabled is still the stack's);
 *   - traefik/dynamic/remote-services.yml written for the services at MCP_<SERVICE>_URL (remote MCP
 *     servers have no container; deploy/remote-routes.ts);
 *   - in its environment, each service's edge secret as MCP_<SERVICE>_EDGE_SECRET, derived from
 *     EDGE_SECRET (auth/src/edge/edge-secret.ts): Compose cannot compute an HMAC, and
 *     docker-compose.yml refuses to start a service without its secret.
 * `docker compose`'s exit code is this script's. Node built-ins only: it runs on a deployment host
 * before any `npm install`.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { parseEnv } from 'node:util';
import { serviceEdgeSecret } from '../auth/src/edge/edge-secret.ts';
import { SERVICE_NAME } from '../contracts/service-name.ts';
import { REMOTE_ROUTES_FILE, remoteRoutes, renderRemoteRoutes, type RemoteRoute } from './deploy/remote-routes.ts';

/** The same switch and name rules as auth/src/config/schema.ts (tests/deploy/compose.test.ts keeps them in step). */
const SERVICE_SWITCH = /^MCP_(.+)_ENABLED$/;
const TRUE = new Set(['true', '1', 'yes']);
/** As auth/src/config/load.ts requires of EDGE_SECRET. */
export const MIN_EDGE_SECRET_LENGTH = 32;

/** Services switched on in an env file's variables, sorted; invalid names are reported, not skipped. */
export function enabledServices(env: Record<string, string | undefined>): { services: string[]; problems: string[] } {
  const services: string[] = [];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    const m = SERVICE_SWITCH.exec(key);
    if (!m?.[1] || !TRUE.has((value ?? '').trim().toLowerCase())) continue;
    const name = m[1].toLowerCase().replaceAll('_', '-');
    if (SERVICE_NAME.test(name)) services.push(name);
    else problems.push(`${key}: "${name}" is not a valid service name.`);
  }
  return { services: services.sort(), problems };
}

/** The profiles docker-compose.yml declares (`profiles: [name]`, as scripts/generate-deploy.ts writes them), in file order. */
export function composeProfiles(composeYaml: string): string[] {
  return [...composeYaml.matchAll(/^\s+profiles:\s*\[\s*([a-z][a-z0-9-]*)\s*\]\s*$/gm)].map((m) => m[1] ?? '');
}

/** `docker compose` arguments activating these profiles. */
export function profileArgs(profiles: readonly string[]): string[] {
  return profiles.flatMap((p) => ['--profile', p]);
}

/** Enabled services that docker-compose.yml has no profile for: `just up` would silently skip them. */
export function unknownServices(services: string[], profiles: string[]): string[] {
  return services.filter((s) => !profiles.includes(s));
}

/** The variable docker-compose.yml reads a service's edge secret from (as MCP_<SERVICE>_ENABLED). */
export const edgeSecretVariable = (service: string): string =>
  `MCP_${service.toUpperCase().replaceAll('-', '_')}_EDGE_SECRET`;

/** Each service's edge secret, by the variable docker-compose.yml reads it from. */
export function edgeSecrets(edgeSecret: string, services: string[]): Record<string, string> {
  return Object.fromEntries(services.map((s) => [edgeSecretVariable(s), serviceEdgeSecret(edgeSecret, s)]));
}

export interface Invocation {
  /** `docker compose` and its arguments. */
  argv: string[];
  env: NodeJS.ProcessEnv;
}

export interface Options {
  envFile: string;
  all: boolean;
  services: boolean;
  rest: string[];
}

export function parseArgs(argv: string[]): Options {
  const options: Options = { envFile: '.env', all: false, services: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--all') options.all = true;
    else if (a === '--services') options.services = true;
    else if (a === '--dotenv' && argv[i + 1] !== undefined) options.envFile = argv[++i]!;
    else break;
  }
  options.rest = argv.slice(i);
  return options;
}

/** What to run, or the problems that stop it. `processEnv` wins over the file, as for Compose. */
export function plan(
  options: Options,
  fileEnv: Record<string, string | undefined>,
  composeYaml: string,
  processEnv: NodeJS.ProcessEnv,
): { invocation: Invocation; services: string[]; remote: RemoteRoute[]; domain: string } | { problems: string[] } {
  const known = composeProfiles(composeYaml);
  const enabled = enabledServices(fileEnv);
  const problems = enabled.problems;
  // A service at MCP_<SERVICE>_URL has no container: Traefik reaches it (remote-routes.ts).
  const remote = remoteRoutes({ ...fileEnv, ...processEnv });
  problems.push(...remote.problems);
  const services = enabled.services.filter((s) => !remote.routes.some((r) => r.name === s));
  for (const s of unknownServices(services, known)) {
    problems.push(
      `${options.envFile} enables "${s}", but docker-compose.yml has no service with profile "${s}" (mcp-services/catalogue.ts, docs/services.md).`,
    );
  }
  const edgeSecret = processEnv.EDGE_SECRET || fileEnv.EDGE_SECRET || '';
  if (edgeSecret.length < MIN_EDGE_SECRET_LENGTH) {
    problems.push(
      `EDGE_SECRET in ${options.envFile} must be at least ${MIN_EDGE_SECRET_LENGTH} characters: run \`just generate-secrets\`.`,
    );
  }
  if (problems.length > 0) return { problems };
  const envFileArgs = options.envFile === '.env' ? [] : ['--env-file', options.envFile];
  return {
    services,
    remote: remote.routes,
    domain: remote.domain,
    invocation: {
      argv: ['compose', ...envFileArgs, ...profileArgs(options.all ? known : services), ...options.rest],
      // Every service's secret, enabled or not: Compose interpolates the whole file.
      env: { ...processEnv, EDGE_SECRET: edgeSecret, ...edgeSecrets(edgeSecret, known) },
    },
  };
}

/** Runs `docker` as if exec'd: same stdio, its exit code (128 + signal when killed) is ours. */
function run({ argv, env }: Invocation): Promise<number> {
  const child = spawn('docker', argv, { stdio: 'inherit', env });
  // Ctrl-C reaches docker compose from the terminal (same process group): let it handle it. A
  // signal sent to this process alone is passed on.
  const ignore = () => {};
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`compose: cannot run docker: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  let fileEnv: Record<string, string | undefined>;
  try {
    fileEnv = parseEnv(readFileSync(options.envFile, 'utf8'));
  } catch {
    process.stderr.write(
      `compose: ${options.envFile} is missing: run \`just generate-secrets\`, then edit it (docs/deployment.md)\n`,
    );
    return 1;
  }
  const composeYaml = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
  const planned = plan(options, fileEnv, composeYaml, process.env);
  if ('problems' in planned) {
    process.stderr.write(planned.problems.map((p) => `compose: ${p}\n`).join(''));
    return 1;
  }
  if (options.services) {
    process.stdout.write(`${planned.services.join(' ')}\n`);
    return 0;
  }
  writeFileSync(
    new URL(`../${REMOTE_ROUTES_FILE}`, import.meta.url),
    renderRemoteRoutes(planned.remote, planned.domain),
  );
  return run(planned.invocation);
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  process.exitCode = await main(process.argv.slice(2));
}
