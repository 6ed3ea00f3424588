/**
 * Which Compose profiles `just` activates: one per MCP service enabled in .env
 * (MCP_<SERVICE>_ENABLED=true, design.md), each profile named as its service in docker-compose.yml.
 *   node scripts/compose-profiles.ts [ENV_FILE]             --profile echo-stateful --profile fetch
 *   node scripts/compose-profiles.ts --services [ENV_FILE]  echo-stateful fetch
 *   node scripts/compose-profiles.ts --all                  every profile of docker-compose.yml
 * Only Node built-ins: it runs on a deployment host before any `npm install`.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/** The same switch and name rules as auth/src/config/schema.ts (a test keeps them in step). */
const SERVICE_SWITCH = /^MCP_(.+)_ENABLED$/;
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const TRUE = new Set(['true', '1', 'yes']);

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

/** The profiles docker-compose.yml declares (`profiles: [name]`), in file order. */
export function composeProfiles(composeYaml: string): string[] {
  return [...composeYaml.matchAll(/^\s+profiles:\s*\[\s*([a-z][a-z0-9-]*)\s*\]\s*$/gm)].map((m) => m[1] ?? '');
}

/** `docker compose` arguments activating these profiles. */
export function profileArgs(profiles: string[]): string[] {
  return profiles.flatMap((p) => ['--profile', p]);
}

/** Enabled services that docker-compose.yml has no profile for: `just up` would silently skip them. */
export function unknownServices(services: string[], profiles: string[]): string[] {
  return services.filter((s) => !profiles.includes(s));
}

function main(argv: string[]): number {
  const flags = argv.filter((a) => a.startsWith('--'));
  const envFile = argv.find((a) => !a.startsWith('--')) ?? '.env';
  const known = composeProfiles(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'));
  if (flags.includes('--all')) {
    process.stdout.write(`${profileArgs(known).join(' ')}\n`);
    return 0;
  }
  const { services, problems } = enabledServices(parseEnv(readFileSync(envFile, 'utf8')));
  for (const s of unknownServices(services, known)) {
    problems.push(
      `${envFile} enables "${s}", but docker-compose.yml has no service with profile "${s}" (docs/deployment.md: adding a service).`,
    );
  }
  if (problems.length > 0) {
    process.stderr.write(problems.map((p) => `compose-profiles: ${p}\n`).join(''));
    return 1;
  }
  process.stdout.write(`${(flags.includes('--services') ? services : profileArgs(services)).join(' ')}\n`);
  return 0;
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  process.exitCode = main(process.argv.slice(2));
}
