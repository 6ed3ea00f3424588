/**
 * The catalogue pins each stdio server's npm package (mcp-services/catalogue.ts); `npm start` runs
 * the installed copy when there is one (the end-to-end suites install the ones they use as dev
 * dependencies). One version for each: the dev dependency is pinned to exactly the catalogue's,
 * and the copy installed is that version, so the tests run what a deployment runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SPECS } from '../../mcp-services/catalogue.ts';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};
const pinned = Object.entries(SPECS)
  .filter(([, spec]) => spec.stdio)
  .map(([name, spec]) => [name, spec.stdio!.npm] as const);

test('every stdio server of the catalogue is a dev dependency', () => {
  expect(pinned.map(([, npm]) => npm.package).filter((p) => !(p in pkg.devDependencies))).toEqual([]);
});

test.each(pinned.map(([name, npm]) => [name, npm.package, npm.version]))(
  '%s: %s is pinned and installed at the catalogue’s %s',
  (_name, name, version) => {
    expect(pkg.devDependencies[name]).toBe(version);
    const installed = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(installed.version).toBe(version);
  },
);
