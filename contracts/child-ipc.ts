/**
 * The environment variable `npm start`'s gateway sets, to '1', on the service and proxy processes
 * it spawns with an IPC channel (auth/src/edge/children.ts): that channel is the gateway's, and
 * the process ends when it does (mcp-services/shared/parent.ts). A process forked by something
 * else (a test runner's worker) has a channel of its own that says nothing about the gateway.
 */
export const GATEWAY_CHILD_IPC = 'GATEWAY_CHILD_IPC';
