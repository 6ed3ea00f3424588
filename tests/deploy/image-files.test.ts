/**
 * What each image runs is in the image: from the entry point of its command, every relative import
 * (followed through the whole graph) resolves to a file the Dockerfile COPYs. No Docker needed; a
 * source moved outside the copied directories (contracts/, say) fails here, not at `just up`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../../mcp-services/catalogue.ts';

/** The repository paths a Dockerfile's runtime stage copies from the build context. */
function copied(dockerfile: string): string[] {
  const text = readFileSync(join(REPO_ROOT, dockerfile), 'utf8');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  return [...runtime.matchAll(/^COPY (?!--from)(?:--\S+ )*(\S+) \S+$/gm)].map((m) => m[1]!);
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** Every repository file reachable from `entry` through relative imports. */
function graph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const target = relative(REPO_ROOT, resolve(REPO_ROOT, dirname(file), (m[1] ?? m[2])!));
      if (!existsSync(join(REPO_ROOT, target))) throw new Error(`${file} imports ${target}, which does not exist`);
      visit(target);
    }
  };
  visit(entry);
  return seen;
}

const inImage = (file: string, copies: string[]) =>
  copies.some((c) => file === c || file.startsWith(`${c.replace(/\/$/, '')}/`));

// main.ts is the image's command; cli.ts is what `just clients`, `just keys-rotate` run in it.
test.each(['auth/src/main.ts', 'auth/src/cli.ts'])('auth/Dockerfile: everything %s imports is copied', (entry) => {
  const copies = copied('auth/Dockerfile');
  expect(copies).toContain('contracts');
  const missing = [...graph(entry)].filter((f) => !inImage(f, copies));
  expect(missing).toEqual([]);
});

const services = readdirSync(join(REPO_ROOT, 'mcp-services'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(REPO_ROOT, 'mcp-services', d.name, 'src/main.ts')))
  .map((d) => d.name);

test.each(services)('mcp-services/Dockerfile: everything %s imports is copied', (service) => {
  const copies = copied('mcp-services/Dockerfile');
  const missing = [...graph(`mcp-services/${service}/src/main.ts`)].filter((f) => !inImage(f, copies));
  expect(missing).toEqual([]);
});

test('the check can fail: without contracts/, the auth image would lack what it imports', () => {
  const copies = copied('auth/Dockerfile').filter((c) => c !== 'contracts');
  expect([...graph('auth/src/main.ts')].filter((f) => !inImage(f, copies))).toContain('contracts/headers.ts');
});
