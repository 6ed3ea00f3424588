/**
 * The MCP services this gateway knows by name (docs/services.md): how the embedded default
 * (`npm start`) runs each one as its own process. Each listens on HOST/PORT from its
 * environment and serves Streamable HTTP at /mcp; stdio servers run through the stdio proxy,
 * one process per MCP session. docker-compose.yml runs the same commands, one container each.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CatalogueEntry {
  description: string;
  /** argv, run from the repository root; `node` means the Node running the gateway. */
  command: string[];
  /** Extra environment for the service process. */
  env?: Record<string, string>;
}

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Where the embedded default keeps the services' data (per-user directories below it). */
export const DATA_DIR = join(REPO_ROOT, '.data');

/** The stdio proxy in front of a stdio MCP server (mcp-services/proxy). */
export const PROXY = ['node', 'mcp-services/proxy/src/main.ts', '--'];
const PER_USER = ['sh', 'mcp-services/shared/per-user.sh'];

/**
 * A stdio server from the npm registry: the installed copy when there is one (no download at
 * each session), else npx with the version pinned.
 */
function npmServer(pkg: string, version: string, bin: string, args: string[] = []): string[] {
  const installed = join(REPO_ROOT, 'node_modules', pkg, bin);
  return existsSync(installed) ? ['node', installed, ...args] : ['npx', '-y', `${pkg}@${version}`, ...args];
}

const native = (name: string, description: string): CatalogueEntry => ({
  description,
  command: ['node', `mcp-services/${name}/src/main.ts`],
});

export const CATALOGUE: Record<string, CatalogueEntry> = {
  'echo-stateful': native('echo-stateful', 'Echo tools with sessions; shows the identity the gateway passes.'),
  'echo-stateless': native('echo-stateless', 'Echo tools without sessions; shows the identity the gateway passes.'),
  fetch: native('fetch', 'Fetches a web page as Markdown or text; refuses private addresses.'),
  time: native('time', 'Current time and conversions between time zones.'),
  tmux: native('tmux', 'Terminal sessions in tmux, one tmux server per user.'),
  everything: {
    description: 'The MCP reference server exercising every protocol feature (stdio, through the proxy).',
    command: [
      ...PROXY,
      ...npmServer('@modelcontextprotocol/server-everything', '2026.8.31', 'dist/index.js', ['stdio']),
    ],
  },
  filesystem: {
    description: 'Files in a directory of the user’s own (stdio, through the proxy).',
    command: [
      ...PROXY,
      ...PER_USER,
      ...npmServer('@modelcontextprotocol/server-filesystem', '2026.8.31', 'dist/index.js', ['{user_dir}']),
    ],
    env: { MCP_DATA_DIR: join(DATA_DIR, 'filesystem') },
  },
  memory: {
    description: 'A knowledge-graph memory per user (stdio, through the proxy).',
    command: [
      ...PROXY,
      ...PER_USER,
      'env',
      'MEMORY_FILE_PATH={user_dir}/memory.jsonl',
      ...npmServer('@modelcontextprotocol/server-memory', '2026.8.31', 'dist/index.js'),
    ],
    env: { MCP_DATA_DIR: join(DATA_DIR, 'memory') },
  },
  sequentialthinking: {
    description: 'Structured step-by-step thinking (stdio, through the proxy).',
    command: [...PROXY, ...npmServer('@modelcontextprotocol/server-sequential-thinking', '2026.8.31', 'dist/index.js')],
  },
  playwright: {
    description: 'A headless Chromium driven by Playwright (stdio, through the proxy); needs Debian chromium.',
    command: [
      ...PROXY,
      ...npmServer('@playwright/mcp', '0.0.83', 'cli.js', [
        '--headless',
        '--isolated',
        '--no-sandbox',
        '--executable-path',
        '/usr/bin/chromium',
      ]),
    ],
  },
};
