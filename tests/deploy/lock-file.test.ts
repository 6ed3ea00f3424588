/**
 * The committed lock file is what `npm ci` installs from, in .ci/run and in both Dockerfiles, with no
 * fallback to `npm install`: it must be complete for every platform (scripts/complete-lock.ts) and
 * in step with package.json.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_PATH, complete, missingEntries, platformOf } from '../../scripts/complete-lock.ts';
import { REPO_ROOT } from '../../mcp-services/catalogue.ts';

const lock = () => JSON.parse(readFileSync(LOCK_PATH, 'utf8'));

test('no locked package lacks a platform package npm ci will ask for (npm run lock:complete)', () => {
  expect([...missingEntries(lock()).keys()]).toEqual([]);
});

test('completing the committed lock file changes nothing', () => {
  expect(`${JSON.stringify(complete(lock()), null, 2)}\n`).toBe(readFileSync(LOCK_PATH, 'utf8'));
});

test('a platform package taken out of the lock file is found missing and put back as npm writes it', () => {
  const full = lock();
  const entry = full.packages['node_modules/rust-just-darwin-arm64'];
  expect(entry).toMatchObject({ version: expect.any(String), os: ['darwin'], cpu: ['arm64'], optional: true });
  delete full.packages['node_modules/rust-just-darwin-arm64'];
  expect([...missingEntries(full).keys()]).toEqual(['node_modules/rust-just-darwin-arm64']);
  expect(complete(full).packages['node_modules/rust-just-darwin-arm64']).toEqual(entry);
});

test.each([
  ['rust-just-linux-armv7', { os: ['linux'], cpu: ['arm'] }],
  ['rust-just-windows-x64', { os: ['win32'], cpu: ['x64'] }],
  ['@swc/core-linux-arm-gnueabihf', { os: ['linux'], cpu: ['arm'] }],
  ['@unrs/resolver-binding-android-arm64', { os: ['android'], cpu: ['arm64'] }],
  ['left-pad', {}],
])('platformOf(%s)', (name, expected) => {
  expect(platformOf(name)).toEqual(expected);
});

// The Dockerfiles' own install command, run (as a dry run, offline) on the build context they get:
// package.json and the lock file. npm ci refuses a lock file out of step before it fetches anything.
test.each(['auth/Dockerfile', 'mcp-services/Dockerfile'])('%s installs with npm ci and no fallback', (file) => {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const run = text.match(/^RUN (npm ci[^\n]*?)\s*$/m);
  expect(run).not.toBeNull();
  expect(text).not.toMatch(/npm ci[^\n]*\\\n\s*\|\|/);
  expect(text).not.toMatch(/npm install --omit=dev/);
  const dir = mkdtempSync(join(tmpdir(), 'lock-'));
  try {
    copyFileSync(join(REPO_ROOT, 'package.json'), join(dir, 'package.json'));
    copyFileSync(LOCK_PATH, join(dir, 'package-lock.json'));
    const args = run![1]!.split(/\s+/).slice(1);
    const ci = spawnSync('npm', [...args, '--dry-run', '--offline', '--loglevel=error'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect({ status: ci.status, stderr: ci.stderr }).toEqual({ status: 0, stderr: '' });
    // The same command fails on a lock file that lacks a platform package (the test can fail).
    const broken = lock();
    delete broken.packages['node_modules/rust-just-darwin-arm64'];
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(broken));
    const refused = spawnSync('npm', [...args, '--dry-run', '--offline', '--loglevel=error'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(refused.status).not.toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
