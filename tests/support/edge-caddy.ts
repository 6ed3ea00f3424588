/**
 * The caddy project's setup (jest.config.js): every end-to-end file of it runs its stack behind a
 * live Caddy edge, as `npm run start:caddy` does (tests/support/stack.ts reads GATEWAY_EDGE). Jest
 * gives each file a copy of the environment: the local project's files are not affected.
 */
process.env.GATEWAY_EDGE = 'caddy';
