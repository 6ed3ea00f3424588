import { availableParallelism } from 'node:os';

/**
 * Jest runs our TypeScript as native ESM (NODE_OPTIONS=--experimental-vm-modules, set by the
 * npm scripts), transformed by SWC. oidc-provider and jose are ESM-only, so ESM mode is the
 * one configuration in which production and tests load modules the same way.
 * @type {import('jest').Config}
 */
export default {
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
  testMatch: ['<rootDir>/tests/**/*.test.ts'],
  testTimeout: 30000,
  // Most files wait on child processes, sockets and browsers more than on a core: two files at a
  // time on two cores keep CI under 15 minutes (one at a time took about 19).
  maxWorkers: Math.max(2, availableParallelism() - 1),
};
