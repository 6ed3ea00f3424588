/**
 * `docker-compose config` of the stack (Debian's docker-compose v1 needs no engine for it): the
 * model Compose resolves from docker-compose.yml and a .env, every profile on, in the environment
 * scripts/compose.ts gives `docker compose` (the services' derived edge secrets included).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { parseArgs, plan } from '../../scripts/compose.ts';

const COMPOSE_FILE = new URL('../../docker-compose.yml', import.meta.url).pathname;

export const EDGE_SECRET = 'e'.repeat(43);
export const ENV = `BASE_DOMAIN=mcp.example.com\nACME_EMAIL=admin@example.com\nREDIS_PASSWORD=0123abcd\nEDGE_SECRET=${EDGE_SECRET}\n`;

export interface ConfigResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `docker-compose config` with this .env; `extra` added to and `without` removed from compose.ts's
 * environment; `overrides`: files of the repository read after docker-compose.yml (docker-compose.sentinel.yml).
 */
export function composeConfig(
  env: string = ENV,
  {
    extra = {},
    without = [],
    overrides = [],
  }: { extra?: Record<string, string>; without?: string[]; overrides?: string[] } = {},
): ConfigResult {
  const dir = mkdtempSync(join(tmpdir(), 'compose-'));
  try {
    writeFileSync(join(dir, '.env'), env);
    // Only the temporary .env and what compose.ts derives provide values, not this process's environment.
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const planned = plan(
      parseArgs(['--all']),
      { ...dotenv.parse(env), EDGE_SECRET },
      readFileSync(COMPOSE_FILE, 'utf8'),
      base,
    );
    if ('problems' in planned) throw new Error(planned.problems.join('\n'));
    const childEnv: NodeJS.ProcessEnv = { ...planned.invocation.env, ...extra };
    for (const name of without) delete childEnv[name];
    // compose.ts runs `docker compose <profiles> …`; Debian's v1 is `docker-compose`.
    const [command, ...args] = planned.invocation.argv;
    if (command !== 'compose') throw new Error(`compose.ts runs docker ${command}`);
    const result = spawnSync(
      'docker-compose',
      [
        ...['--project-directory', dir, '--env-file', join(dir, '.env'), '-f', COMPOSE_FILE],
        ...overrides.flatMap((file) => ['-f', new URL(`../../${file}`, import.meta.url).pathname]),
        ...args,
        'config',
      ],
      { encoding: 'utf8', env: childEnv },
    );
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        "docker-compose is not installed: install Debian's package (`apt-get install docker-compose`); .ci/run does.",
      );
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
