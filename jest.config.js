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
  // Jest's default is one worker less than the cores: on CI's two, one file at a time (about 19
  // minutes). Two side by side take about 14; the timing tests leave room for a busy machine.
  maxWorkers: Math.max(2, availableParallelism() - 1),
};
