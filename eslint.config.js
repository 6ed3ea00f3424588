import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'coverage/', 'docs/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // auth/ and mcp-services/ meet only in contracts/ (headers, loopback, service names): a service
  // knows nothing of the auth service's code, nor the auth service of a service's. The one
  // exception is the catalogue, the list of services `npm start` runs (auth/src/edge/children.ts).
  {
    files: ['auth/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)mcp-services/(?!catalogue\\.ts$)',
              message: 'auth/ imports from mcp-services/ only its catalogue; shared names belong in contracts/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['mcp-services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)auth/',
              message: 'mcp-services/ never imports from auth/; shared names belong in contracts/.',
            },
          ],
        },
      ],
    },
  },
  {
    // Structured logs only in shipped code (pino); scripts and tests may print.
    files: ['auth/src/**/*.ts', 'mcp-services/**/src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
);
