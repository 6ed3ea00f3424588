/**
 * Completes package-lock.json with the platform packages that `npm install` could not record.
 *   npm run lock:complete                    add them (node scripts/complete-lock.ts --write)
 *   node scripts/complete-lock.ts            only report them; exit 1 when there are some
 *
 * `npm ci` requires every optional dependency of a locked package to be in the lock file, for
 * every platform (npm/cli#4828): that is how one lock file serves Linux, macOS and Windows. A
 * registry mirror that does not serve some platform's binary (rust-just-darwin-arm64 here) makes
 * `npm install` leave it out, and `npm ci` then refuses the lock file. This adds an entry for each
 * such package as npm itself would write it: version, optional, the dev flag of its parent, and the
 * os/cpu its name announces, so that npm skips it on every other platform without fetching it.
 * Run it after `npm install` changes a dependency that has platform packages; the test
 * tests/deploy/lock-file.test.ts fails while an entry is missing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  license?: string;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

interface LockFile {
  packages: Record<string, LockEntry>;
  [key: string]: unknown;
}

export const LOCK_PATH = fileURLToPath(new URL('../package-lock.json', import.meta.url));

// Platform words in package names, as Node spells them (process.platform, process.arch).
const OS: Record<string, string> = {
  darwin: 'darwin',
  linux: 'linux',
  win32: 'win32',
  windows: 'win32',
  freebsd: 'freebsd',
  android: 'android',
  openharmony: 'openharmony',
};
const CPU: Record<string, string> = {
  arm64: 'arm64',
  aarch64: 'arm64',
  x64: 'x64',
  ia32: 'ia32',
  arm: 'arm',
  armv7: 'arm',
  gnueabihf: 'arm',
  musleabihf: 'arm',
  loong64: 'loong64',
  riscv64: 'riscv64',
  ppc64: 'ppc64',
  s390x: 's390x',
  wasm32: 'wasm32',
};

/** os and cpu read from a platform package's name (`rust-just-linux-armv7` → linux, arm). */
export function platformOf(name: string): { os?: string[]; cpu?: string[] } {
  const words = name.split('/').pop()!.split('-');
  const os = words.map((w) => OS[w]).find(Boolean);
  const cpu = words.map((w) => CPU[w]).find(Boolean);
  return { ...(cpu ? { cpu: [cpu] } : {}), ...(os ? { os: [os] } : {}) };
}

/** Lock paths a package's optional dependency resolves to: beside it, else hoisted to the top. */
function resolves(packages: Record<string, LockEntry>, parent: string, dependency: string): boolean {
  let dir = parent;
  for (;;) {
    if (packages[`${dir ? `${dir}/` : ''}node_modules/${dependency}`]) return true;
    const at = dir.lastIndexOf('/node_modules/');
    if (dir === '') return false;
    dir = at === -1 ? '' : dir.slice(0, at);
  }
}

/** The entries npm ci will ask for and the lock lacks, keyed by their lock path. */
export function missingEntries(lock: LockFile): Map<string, LockEntry> {
  const missing = new Map<string, LockEntry>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const [dependency, range] of Object.entries(entry.optionalDependencies ?? {})) {
      if (resolves(lock.packages, path, dependency)) continue;
      // An exact version is what platform packages are pinned to; a range is left for npm to solve.
      if (!/^\d+\.\d+\.\d+(?:-[\w.]+)?$/.test(range)) continue;
      missing.set(`node_modules/${dependency}`, {
        version: range,
        ...platformOf(dependency),
        ...(entry.dev ? { dev: true } : {}),
        ...(entry.license ? { license: entry.license } : {}),
        optional: true,
      });
    }
  }
  return missing;
}

/** The lock with the missing entries added, its packages in the order npm writes them. */
export function complete(lock: LockFile): LockFile {
  const packages: Record<string, LockEntry> = { ...lock.packages };
  for (const [path, entry] of missingEntries(lock)) {
    // npm's key order within an entry: version, cpu, dev, license, optional, os.
    const { version, cpu, dev, license, optional, os } = entry;
    packages[path] = JSON.parse(JSON.stringify({ version, cpu, dev, license, optional, os })) as LockEntry;
  }
  const root = packages[''];
  const rest = Object.keys(packages)
    .filter((k) => k !== '')
    .sort((a, b) => a.localeCompare(b, 'en'));
  return { ...lock, packages: Object.fromEntries([['', root], ...rest.map((k) => [k, packages[k]])]) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lock = JSON.parse(readFileSync(LOCK_PATH, 'utf8')) as LockFile;
  const missing = missingEntries(lock);
  if (process.argv.includes('--write')) {
    if (missing.size) writeFileSync(LOCK_PATH, `${JSON.stringify(complete(lock), null, 2)}\n`);
    console.log(`complete-lock: ${missing.size} entr${missing.size === 1 ? 'y' : 'ies'} added`);
  } else {
    for (const path of missing.keys()) console.log(`missing: ${path}`);
    if (missing.size) console.log('complete-lock: run `node scripts/complete-lock.ts --write`');
    process.exitCode = missing.size ? 1 : 0;
  }
}
