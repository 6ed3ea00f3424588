/**
 * Fills the empty secrets of .env (creating it from .env.example when absent):
 *   node scripts/generate-secrets.ts [ENV_FILE] [--example EXAMPLE_FILE]
 * A secret that has a value is never replaced, so running it again changes nothing. Comments, order
 * and every other line are kept; a secret with no line at all is appended. Values are never printed.
 * Only Node built-ins: it runs on a deployment host before any `npm install`.
 * SIGNING_KEY is not among them: left unset, the signing key is generated on first start and kept in
 * storage, where `just keys-rotate` rotates it (docs/keys.md).
 */
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export interface Secret {
  name: string;
  /** Comment lines written above the variable when it has to be appended. */
  doc: string[];
  generate: () => string;
}

export const SECRETS: Secret[] = [
  {
    name: 'COOKIE_SECRETS',
    doc: ['Secrets that sign cookies, comma-separated, newest first.'],
    generate: () => randomBytes(48).toString('base64url'),
  },
  {
    name: 'EDGE_SECRET',
    doc: [
      "Root of the MCP services' edge secrets (auth/src/edge/edge-secret.ts); at least 32 characters.",
      'The Compose stack requires it; `just` derives each service’s secret from it.',
    ],
    // 256 bits (RFC 7518 §3.2: an HMAC-SHA256 key of at least the hash's size), 43 characters.
    generate: () => randomBytes(32).toString('base64url'),
  },
  {
    name: 'REDIS_PASSWORD',
    doc: [
      "Password of the Compose stack's Redis (docker-compose.yml builds REDIS_URL from it). Compose only:",
      'see docs/deployment.md.',
    ],
    // Hex: it goes into a redis:// URL unescaped.
    generate: () => randomBytes(32).toString('hex'),
  },
];

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*?)\r?$/;

/** An unset value: nothing, blanks, an empty quoted string, or only a trailing comment. */
function isEmptyValue(raw: string): boolean {
  const v = raw.trim();
  return v === '' || v === '""' || v === "''" || v.startsWith('#');
}

/**
 * Returns `text` with each empty or missing secret given a generated value, and the names filled.
 * When a name has several lines, the last one counts (as for dotenv) and only it is filled.
 */
export function fillSecrets(text: string, secrets: Secret[] = SECRETS): { text: string; filled: string[] } {
  const lines = text.split('\n');
  const last = new Map<string, number>();
  lines.forEach((line, i) => {
    const m = ASSIGNMENT.exec(line);
    if (m?.[1]) last.set(m[1], i);
  });
  const filled: string[] = [];
  const appended: string[] = [];
  for (const secret of secrets) {
    const at = last.get(secret.name);
    if (at === undefined) {
      appended.push('', ...secret.doc.map((d) => `# ${d}`), `${secret.name}=${secret.generate()}`);
      filled.push(secret.name);
      continue;
    }
    const m = ASSIGNMENT.exec(lines[at] ?? '');
    if (!m || !isEmptyValue(m[2] ?? '')) continue;
    const cr = (lines[at] ?? '').endsWith('\r') ? '\r' : '';
    lines[at] = `${secret.name}=${secret.generate()}${cr}`;
    filled.push(secret.name);
  }
  if (appended.length === 0) return { text: lines.join('\n'), filled };
  let out = lines.join('\n');
  if (out !== '' && !out.endsWith('\n')) out += '\n';
  return { text: `${out}${appended.join('\n').replace(/^\n/, out === '' ? '' : '\n')}\n`, filled };
}

function main(argv: string[]): number {
  const exampleAt = argv.indexOf('--example');
  const example = exampleAt >= 0 ? argv[exampleAt + 1] : '.env.example';
  const envFile = argv.find((a, i) => !a.startsWith('--') && (exampleAt < 0 || i !== exampleAt + 1)) ?? '.env';
  if (!existsSync(envFile)) {
    if (!example || !existsSync(example)) {
      process.stderr.write(`generate-secrets: neither ${envFile} nor ${example} exists\n`);
      return 1;
    }
    copyFileSync(example, envFile);
    process.stdout.write(`Created ${envFile} from ${example}.\n`);
  }
  const { text, filled } = fillSecrets(readFileSync(envFile, 'utf8'));
  if (filled.length > 0) writeFileSync(envFile, text);
  chmodSync(envFile, 0o600);
  process.stdout.write(
    filled.length > 0
      ? `Generated in ${envFile}: ${filled.join(', ')}.\n`
      : `Nothing to generate: every secret in ${envFile} already has a value.\n`,
  );
  return 0;
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  process.exitCode = main(process.argv.slice(2));
}
