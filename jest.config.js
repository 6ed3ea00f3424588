import { availableParallelism } from 'node:os';

/**
 * Jest runs our TypeScript as native ESM (NODE_OPTIONS=--experimental-vm-modules, set by the
 * npm scripts), transformed by SWC. oidc-provider and jose are ESM-only, so ESM mode is the
 * one configuration in which production and tests load modules the same way.
 *
 * Two projects, run together by `npm test` so that neither waits for the other's last file:
 *   local  every suite, the end-to-end ones through the local edge (`npm run test:unit`);
 *   caddy  the end-to-end suites again through a live Caddy edge (`npm run test:e2e:caddy`),
 *          GATEWAY_EDGE=caddy set for each of their files (tests/support/edge-caddy.ts).
 * TEST_PROJECTS (comma-separated) runs some of them: the npm scripts set it, since Jest's own
 * --selectProjects would take the test paths after it for project names.
 */
const project = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'es6' },
      },
    ],
  },
};

const projects = [
  { ...project, displayName: 'local', testMatch: ['<rootDir>/tests/**/*.test.ts'] },
  {
    ...project,
    displayName: 'caddy',
    testMatch: ['<rootDir>/tests/e2e/**/*.test.ts', '<rootDir>/tests/deploy/chain.test.ts'],
    setupFiles: ['<rootDir>/tests/support/edge-caddy.ts'],
  },
];
const chosen = process.env.TEST_PROJECTS?.split(',').filter(Boolean) ?? projects.map((p) => p.displayName);
const unknown = chosen.filter((name) => !projects.some((p) => p.displayName === name));
if (unknown.length) throw new Error(`TEST_PROJECTS: no project ${unknown.join(', ')} (local, caddy)`);

/** @type {import('jest').Config} */
export default {
  projects: projects.filter((p) => chosen.includes(p.displayName)),
  // A global setting: in a project's configuration Jest ignores it (5 s hooks and tests).
  testTimeout: 30000,
  // Most files wait on child processes, sockets and browsers more than on a core: two files at a
  // time on two cores keep CI under 15 minutes (one at a time took about 19).
  maxWorkers: Math.max(2, availableParallelism() - 1),
};
