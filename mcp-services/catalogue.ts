/**
 * The MCP services this gateway knows by name (docs/services.md). Each entry is written once, as
 * facts (`ServiceSpec`), and both ways of running it are derived from them:
 *   - `command` / `env`: how the embedded default (`npm start`, auth/src/edge/children.ts) runs it
 *     as its own process;
 *   - `container`: how the Compose stack runs it, one container each (docker-compose.yml is
 *     generated from it by scripts/generate-deploy.ts).
 * So a container runs exactly what `npm start` runs, only from where its image keeps the files.
 * Each service listens on HOST/PORT from its environment and serves Streamable HTTP at /mcp;
 * stdio servers run through the stdio proxy, one process per MCP session.
 * Node built-ins only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How `npm start` runs a service (auth/src/edge/children.ts reads only this). */
export interface CatalogueEntry {
  description: string;
  /** argv, run from the repository root; `node` means the Node running the gateway. */
  command: string[];
  /** Extra environment for the service process. */
  env?: Record<string, string>;
}

/** A stdio MCP server published on the npm registry, pinned. */
export interface NpmServer {
  package: string;
  version: string;
  /** The file its `bin` entry runs, relative to the package directory. */
  bin: string;
}

/** The facts of one service, from which both ways of running it are derived. */
export interface ServiceSpec {
  description: string;
  /** A stdio server from npm, run behind the stdio proxy; absent: a native service (mcp-services/<name>). */
  stdio?: {
    npm: NpmServer;
    args?: string[];
    /**
     * One data directory per user (mcp-services/shared/per-user.sh): `{user_dir}` in `args` and in
     * these variables, set for the server with `env`.
     */
    perUser?: { env?: Record<string, string> };
  };
  /** Debian packages the service needs in its image. */
  apt?: string[];
  /** Settings the service reads (MCP_<S>_*), passed from .env into its container; value: the default ('' = the service's own). */
  settings?: Record<string, string>;
  /**
   * Why the service needs to reach the internet. Absent: it gets no route out at all (its
   * container's only network is internal, shared with Traefik alone).
   */
  egress?: string;
  /** Container limits (docker-compose.yml `mem_limit`, `pids_limit`, `shm_size`). */
  limits?: Limits;
}

export interface Limits {
  memory: string;
  /** Processes and threads (the kernel's pids cgroup counts both). */
  pids: number;
  /** /dev/shm size; Docker's default is 64 MB. */
  shm?: string;
}

/** How the Compose stack runs a service. */
export interface ContainerForm {
  /** argv in the container, run from the image's WORKDIR (/app, a copy of the repository's mcp-services/). */
  command: string[];
  environment: Record<string, string>;
  settings: Record<string, string>;
  /** Build arguments of mcp-services/Dockerfile. */
  npmPackages: string[];
  aptPackages: string[];
  /** A named volume for the per-user data: `<name>-data` mounted at /data. */
  dataVolume?: { name: string; mount: string };
  egress?: string;
  limits: Limits;
}

export interface ServiceEntry extends CatalogueEntry {
  container: ContainerForm;
}

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Where the embedded default keeps the services' data (per-user directories below it). */
export const DATA_DIR = join(REPO_ROOT, '.data');
/** Where the service image keeps the data (a named volume; per-user.sh's default). */
export const IMAGE_DATA_DIR = '/data';
/**
 * Where the service image has the npm packages of NPM_PACKAGES: `npm install --global` as root in
 * node:24-slim installs below npm's global prefix /usr/local (mcp-services/Dockerfile).
 */
export const IMAGE_NPM_ROOT = '/usr/local/lib/node_modules';

/** The stdio proxy in front of a stdio MCP server (mcp-services/proxy). */
export const PROXY = ['node', 'mcp-services/proxy/src/main.ts', '--'];
const PER_USER = ['sh', 'mcp-services/shared/per-user.sh'];

/** Limits of a service that sets none: one Node process (native), or one per MCP session (stdio). */
export const DEFAULT_LIMITS: { native: Limits; stdio: Limits } = {
  native: { memory: '512m', pids: 256 },
  stdio: { memory: '1g', pids: 512 },
};

/**
 * A stdio server from the npm registry under `npm start`: the installed copy when there is one (no
 * download at each session), else npx with the version pinned.
 */
function npmServer({ package: pkg, version, bin }: NpmServer, args: string[]): string[] {
  const installed = join(REPO_ROOT, 'node_modules', pkg, bin);
  return existsSync(installed) ? ['node', installed, ...args] : ['npx', '-y', `${pkg}@${version}`, ...args];
}

/** The argv of a service, given how its npm server is started. */
function argv(name: string, spec: ServiceSpec, server: (npm: NpmServer, args: string[]) => string[]): string[] {
  if (!spec.stdio) return ['node', `mcp-services/${name}/src/main.ts`];
  const { npm, args = [], perUser } = spec.stdio;
  const env = Object.entries(perUser?.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return [...PROXY, ...(perUser ? PER_USER : []), ...(env.length ? ['env', ...env] : []), ...server(npm, args)];
}

export function defineService(name: string, spec: ServiceSpec): ServiceEntry {
  const perUser = spec.stdio?.perUser !== undefined;
  return {
    description: spec.description,
    command: argv(name, spec, npmServer),
    ...(perUser ? { env: { MCP_DATA_DIR: join(DATA_DIR, name) } } : {}),
    container: {
      command: argv(name, spec, (npm, args) => ['node', `${IMAGE_NPM_ROOT}/${npm.package}/${npm.bin}`, ...args]),
      environment: perUser ? { MCP_DATA_DIR: IMAGE_DATA_DIR } : {},
      settings: spec.settings ?? {},
      npmPackages: spec.stdio ? [`${spec.stdio.npm.package}@${spec.stdio.npm.version}`] : [],
      aptPackages: spec.apt ?? [],
      ...(perUser ? { dataVolume: { name: `${name}-data`, mount: IMAGE_DATA_DIR } } : {}),
      ...(spec.egress ? { egress: spec.egress } : {}),
      limits: spec.limits ?? DEFAULT_LIMITS[spec.stdio ? 'stdio' : 'native'],
    },
  };
}

const MODELCONTEXTPROTOCOL = (server: string): NpmServer => ({
  package: `@modelcontextprotocol/server-${server}`,
  version: '2026.8.31',
  bin: 'dist/index.js',
});

export const SPECS: Record<string, ServiceSpec> = {
  'echo-stateful': { description: 'Echo tools with sessions; shows the identity the gateway passes.' },
  'echo-stateless': { description: 'Echo tools without sessions; shows the identity the gateway passes.' },
  fetch: {
    description: 'Fetches a web page as Markdown or text; refuses private addresses.',
    settings: {
      MCP_FETCH_MAX_BYTES: '',
      MCP_FETCH_TIMEOUT: '',
      MCP_FETCH_ALLOW_ADDRESSES: '',
      MCP_FETCH_ALLOW_PRIVATE: '',
    },
    egress: 'it fetches the web pages its callers name',
  },
  time: {
    description: 'Current time and conversions between time zones.',
    settings: { MCP_TIME_LOCAL_TIMEZONE: '' },
  },
  tmux: {
    description: 'Terminal sessions in tmux, one tmux server per user.',
    apt: ['tmux'],
    settings: { MCP_TMUX_MAX_SESSIONS: '' },
    // A shell is given to users one would give a shell (mcp-services/tmux/README.md): they run
    // git, curl, package managers, which need the network.
    egress: 'it is a shell for its users, whose commands (git, curl, package managers) reach the network',
    // Every user's shells and what they start share the container: bounded.
    limits: { memory: '1g', pids: 512 },
  },
  everything: {
    description: 'The MCP reference server exercising every protocol feature (stdio, through the proxy).',
    stdio: { npm: MODELCONTEXTPROTOCOL('everything'), args: ['stdio'] },
  },
  filesystem: {
    description: 'Files in a directory of the user’s own (stdio, through the proxy).',
    stdio: { npm: MODELCONTEXTPROTOCOL('filesystem'), args: ['{user_dir}'], perUser: {} },
  },
  memory: {
    description: 'A knowledge-graph memory per user (stdio, through the proxy).',
    stdio: { npm: MODELCONTEXTPROTOCOL('memory'), perUser: { env: { MEMORY_FILE_PATH: '{user_dir}/memory.jsonl' } } },
  },
  sequentialthinking: {
    description: 'Structured step-by-step thinking (stdio, through the proxy).',
    stdio: { npm: MODELCONTEXTPROTOCOL('sequential-thinking') },
  },
  playwright: {
    description: 'A headless Chromium driven by Playwright (stdio, through the proxy); needs Debian chromium.',
    stdio: {
      npm: { package: '@playwright/mcp', version: '0.0.83', bin: 'cli.js' },
      // --output-dir: its page snapshots and screenshots are the user's (by default they go to
      // .playwright-mcp in the working directory, which every user's browser shares).
      args: [
        '--headless',
        '--isolated',
        '--no-sandbox',
        '--executable-path',
        '/usr/bin/chromium',
        '--output-dir',
        '{user_dir}',
      ],
      perUser: {},
    },
    apt: ['chromium'],
    egress: 'its browser opens the web pages its callers name',
    // A Chromium per MCP session: many processes, many threads each, and more shared memory than
    // Docker's 64 MB default.
    limits: { memory: '2g', pids: 2048, shm: '1g' },
  },
};

export const CATALOGUE: Record<string, ServiceEntry> = Object.fromEntries(
  Object.entries(SPECS).map(([name, spec]) => [name, defineService(name, spec)]),
);
