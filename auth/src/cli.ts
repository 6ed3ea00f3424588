/**
 * Administration CLI of the auth service, working on the same storage as the running service
 * (Redis only: with the memory store the gateway's state is out of reach). docs/administration.md.
 *   npm run admin -- keys list                        the signing key set
 *   npm run admin -- keys rotate                      a new signing key; the old ones verify until they retire
 *   npm run admin -- clients list [--json]            every registered client
 *   npm run admin -- clients show ID [--json]         a client's metadata and live grants
 *   npm run admin -- clients revoke ID [--yes]        a client, its grants, tokens and consents, gone
 *   npm run admin -- upstreams list [--json]          the tokens held for users at remote MCP servers
 *   npm run admin -- upstreams revoke USER [SERVICE] [--yes]   ended here and revoked there (RFC 7009)
 *   npm run admin -- --help                           this list (exit 0)
 * `npm run admin --` is `node auth/src/cli.ts` on Node 22.18 or newer (scripts/with-node.sh), which is
 * how the containers run it. It reads the same `.env` and settings as the service.
 */
import { createInterface } from 'node:readline/promises';
import dotenv from 'dotenv';
import { listClients, revokeClient, showClient, type ClientDetails, type ClientSummary } from './admin/clients.ts';
import { listUpstreamTokens, revokeUpstreamTokens, upstreamGrantEnded } from './admin/upstreams.ts';
import { ConfigError, loadConfig, type Config } from './config/load.ts';
import { createLogger } from './log.ts';
import { readKeySet, rotateSigningKey } from './oidc/keys.ts';
import { createStore, RedisStore } from './storage/index.ts';
import { StorageUnavailable } from './storage/redis.ts';
import type { Json, Store } from './storage/store.ts';

const USAGE = `usage: npm run admin -- <command>     (in a container: node auth/src/cli.ts <command>)
commands:
  keys list                          the signing key set: which key signs, when each other retires
  keys rotate                        a new signing key; restart the auth replicas after
  clients list [--json]              every registered client, newest first
  clients show <client_id> [--json]  a client's registered metadata and its live grants
  clients revoke <client_id> [--yes] the client and everything it holds, gone
  upstreams list [--json]            the tokens held for users at remote MCP servers (never the tokens)
  upstreams revoke <user> [<service>] [--yes]
                                     a user's authorization at one or every remote server, ended here
                                     and revoked there when it has a revocation endpoint (RFC 7009)
  --help                             this text
Works on the Redis storage of REDIS_URL (.env). docs/administration.md.
`;
const HELP = new Set(['--help', '-h', 'help']);
const EX_USAGE = 64;
const EX_UNAVAILABLE = 69;
/** The running gateway's Redis is either there or not: a command does not wait long for it. */
const CLI_STORAGE_WAIT_MS = 5000;

/** Where a confirmation can be asked: the process's terminal, or a stand-in in tests. */
export interface Terminal {
  /** Is there someone to ask (stdin is a TTY)? */
  interactive: boolean;
  ask(question: string): Promise<string>;
}

const processTerminal: Terminal = {
  interactive: Boolean(process.stdin.isTTY),
  async ask(question) {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  },
};

interface Command {
  area: 'keys' | 'clients' | 'upstreams';
  action: string;
  clientId?: string;
  /** upstreams revoke: the user, and the service (all when absent). */
  user?: string;
  service?: string;
  json: boolean;
  yes: boolean;
}

const ACTIONS: Record<string, { positional: number; optional?: number; flags: string[] }> = {
  'keys list': { positional: 0, flags: [] },
  'keys rotate': { positional: 0, flags: [] },
  'clients list': { positional: 0, flags: ['--json'] },
  'clients show': { positional: 1, flags: ['--json'] },
  'clients revoke': { positional: 1, flags: ['--yes'] },
  'upstreams list': { positional: 0, flags: ['--json'] },
  'upstreams revoke': { positional: 1, optional: 1, flags: ['--yes'] },
};

/** Every option a command takes. Anything else is an argument: client ids may begin with "--". */
const OPTIONS = new Set(Object.values(ACTIONS).flatMap((spec) => spec.flags));

function parse(argv: string[]): Command | undefined {
  const [area, action, ...rest] = argv;
  const spec = ACTIONS[`${area} ${action}`];
  // oidc-provider's client ids are 21 characters of A-Z a-z 0-9 _ -: one in 4 096 begins with
  // "--", and is an id, not an option. "--" ends the options, as in POSIX utilities.
  const end = rest.indexOf('--');
  const options = end < 0 ? rest : rest.slice(0, end);
  const flags = options.filter((a) => OPTIONS.has(a));
  const positional = [...options.filter((a) => !OPTIONS.has(a)), ...(end < 0 ? [] : rest.slice(end + 1))];
  const count = positional.length;
  if (!spec || count < spec.positional || count > spec.positional + (spec.optional ?? 0)) return undefined;
  if (flags.some((f) => !spec.flags.includes(f))) return undefined;
  return {
    area: area as Command['area'],
    action: action!,
    clientId: positional[0],
    user: positional[0],
    service: positional[1],
    json: flags.includes('--json'),
    yes: flags.includes('--yes'),
  };
}

export async function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: (s: string) => void,
  terminal: Terminal = processTerminal,
  err: (s: string) => void = out,
): Promise<number> {
  // Help asked for is an answer (stdout, 0); a command not understood is a usage error (stderr, 64).
  if (argv.length > 0 && argv.every((a) => HELP.has(a))) {
    out(USAGE);
    return 0;
  }
  const command = parse(argv);
  if (!command) {
    err(USAGE);
    return EX_USAGE;
  }
  if (command.action === 'revoke' && !command.yes && !terminal.interactive) {
    err('Not revoking without confirmation: stdin is not a terminal. Add --yes to revoke anyway.\n');
    return EX_USAGE;
  }
  const config = loadConfig(env);
  if (!config.redis) {
    err('REDIS_URL is not set: the running gateway keeps its keys in its own memory, out of reach of this command.\n');
    return EX_UNAVAILABLE;
  }
  const store = createStore({ redis: config.redis }, createLogger('warn'));
  try {
    if (store instanceof RedisStore) await store.connected(CLI_STORAGE_WAIT_MS);
    if (command.area === 'keys') return await keys(store, config, command.action, out, err);
    if (command.area === 'upstreams') return await upstreamsCommand(store, config, command, out, err, terminal);
    return await clients(store, config, command, out, terminal);
  } catch (e) {
    if (!(e instanceof StorageUnavailable)) throw e;
    err(`${e.message}\n`);
    return EX_UNAVAILABLE;
  } finally {
    await store.close();
  }
}

async function keys(
  store: Store,
  config: Config,
  action: string,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  if (action === 'rotate') {
    if (config.signingKeyPem) {
      err(
        'SIGNING_KEY is set: rotate by replacing it in .env (the previous key keeps verifying until it retires) and restarting.\n',
      );
      return EX_USAGE;
    }
    await rotateSigningKey(store, config.accessTokenLifetime);
    out(
      'A new signing key is current. Restart every auth replica to sign with it; tokens signed before keep verifying until they expire.\n',
    );
  }
  for (const key of await readKeySet(store)) {
    const state = key.retiresAt ? `retires ${time(key.retiresAt)}` : 'signing';
    out(`${key.kid}  created ${time(key.createdAt)}  ${state}\n`);
  }
  return 0;
}

async function clients(
  store: Store,
  config: Config,
  command: Command,
  out: (s: string) => void,
  terminal: Terminal,
): Promise<number> {
  const json = (value: unknown) => out(`${JSON.stringify(value, null, 2)}\n`);
  if (command.action === 'list') {
    const list = await listClients(store);
    if (command.json) json(list);
    else out(list.length ? clientTable(list) : 'No registered clients.\n');
    return 0;
  }
  const id = command.clientId!;
  const details = await showClient(store, id);
  if (!details) {
    out(`No registered client with id ${clean(id)}.\n`);
    return 1;
  }
  if (command.action === 'show') {
    if (command.json) json(details);
    else out(clientDetails(details));
    return 0;
  }
  if (!command.yes) {
    const name = details.metadata.client_name ? ` "${clean(String(details.metadata.client_name))}"` : '';
    const question = `Revoke client ${id}${name} and its ${plural(details.grants.length, 'grant')}? [y/N] `;
    if (!/^y(es)?$/i.test((await terminal.ask(question)).trim())) {
      out('Nothing revoked.\n');
      return 1;
    }
  }
  const revoked = await revokeClient(store, id, await upstreamGrantEnded(store, config));
  if (!revoked) {
    out(`No registered client with id ${clean(id)}.\n`);
    return 1;
  }
  out(
    `Revoked client ${id}: removed ${plural(revoked.grants, 'grant')} (codes and tokens included), ` +
      `${plural(revoked.consents, 'remembered consent')}, ` +
      `${plural(revoked.registration_access_tokens, 'registration access token')}.\n`,
  );
  return 0;
}

async function upstreamsCommand(
  store: Store,
  config: Config,
  command: Command,
  out: (s: string) => void,
  err: (s: string) => void,
  terminal: Terminal,
): Promise<number> {
  if (command.action === 'list') {
    const held = await listUpstreamTokens(store, config.upstreamTokenKey);
    if (command.json) out(`${JSON.stringify(held, null, 2)}\n`);
    else if (!held.length) out('No tokens are held at remote MCP servers.\n');
    else {
      out(
        table([
          ['SERVICE', 'USER', 'OBTAINED', 'EXPIRES', 'REFRESH', 'SCOPE'],
          ...held.map((h) => [
            h.service,
            clean(h.user),
            h.obtained_at ? time(h.obtained_at) : '-',
            h.expires_at ? time(h.expires_at) : '-',
            h.refreshable ? 'yes' : 'no',
            clean(h.scope ?? '-'),
          ]),
        ]),
      );
    }
    return 0;
  }
  const user = command.user!;
  const service = command.service;
  if (service !== undefined && !config.services.some((s) => s.name === service && s.remote?.auth?.mode === 'user')) {
    err(`${clean(service)} is not a remote MCP server with MCP_<SERVICE>_AUTH=user in this configuration.\n`);
    return EX_USAGE;
  }
  if (!command.yes) {
    const question = `End ${clean(user)}'s authorization at ${service ? clean(service) : 'every remote MCP server'}? [y/N] `;
    if (!/^y(es)?$/i.test((await terminal.ask(question)).trim())) {
      out('Nothing revoked.\n');
      return 1;
    }
  }
  const ended = await revokeUpstreamTokens(store, config, user, service);
  out(
    ended.length
      ? `Ended ${clean(user)}'s authorization at ${ended.join(', ')}; their clients' next calls there are refused until they authorize again.\n`
      : `${clean(user)} holds no authorization at ${service ? clean(service) : 'any remote MCP server'}.\n`,
  );
  return ended.length ? 0 : 1;
}

function clientTable(list: ClientSummary[]): string {
  return table([
    ['CLIENT_ID', 'NAME', 'REDIRECT HOSTS', 'AUTH METHOD', 'TYPE', 'ISSUED', 'EXPIRES', 'GRANTS'],
    ...list.map((c) => [
      c.client_id,
      c.client_name ?? '-',
      c.redirect_hosts.join(',') || '-',
      c.token_endpoint_auth_method ?? '-',
      c.application_type ?? '-',
      c.issued_at ? time(c.issued_at) : '-',
      c.expires_at ? time(c.expires_at) : 'never',
      String(c.grants),
    ]),
  ]);
}

function clientDetails({ metadata, expires_at, grants }: ClientDetails): string {
  const value = (v: Json) => (Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const first = ['client_id', 'client_name'];
  const keys = [...first.filter((k) => k in metadata), ...Object.keys(metadata).filter((k) => !first.includes(k))];
  const rows = keys.map((k) => [k, value(metadata[k]!)]);
  rows.push(['expires', expires_at ? time(expires_at) : 'never']);
  let text = table(rows) + `\n${plural(grants.length, 'grant')}\n`;
  if (grants.length) {
    text += table([
      ['GRANT', 'USER', 'RESOURCES (SCOPES)', 'OIDC SCOPES', 'EXPIRES'],
      ...grants.map((g) => [
        g.grant_id,
        g.login ? `${g.login} (${g.account_id})` : g.account_id,
        Object.entries(g.resources)
          .map(([r, s]) => `${r} (${s.join(' ')})`)
          .join(', ') || '-',
        g.scopes.join(' ') || '-',
        g.expires_at ? time(g.expires_at) : 'never',
      ]),
    ]);
  }
  return text;
}

/** Columns aligned; control characters (anyone can register a client name) made harmless. */
function table(rows: string[][]): string {
  const cells = rows.map((row) => row.map(clean));
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  return cells
    .map(
      (row) =>
        row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd() + '\n',
    )
    .join('');
}

const clean = (s: string): string => s.replace(/\p{Cc}/gu, '?');
const time = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  dotenv.config({ quiet: true });
  run(
    process.argv.slice(2),
    process.env,
    (s) => process.stdout.write(s),
    processTerminal,
    (s) => process.stderr.write(s),
  )
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `${String(err)}\n`);
      process.exit(1);
    });
}
