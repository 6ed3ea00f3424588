/**
 * The names the generated deployment (scripts/generate-deploy.ts) and its tests share: where each
 * container listens, which networks exist, what Traefik's routers are called.
 */
import { CATALOGUE } from '../../mcp-services/catalogue.ts';

export const TRAEFIK_IMAGE = 'traefik:v3.6.24';
/** The Traefik entry point every router is on (traefik/traefik.yml: :443, TLS). */
export const ENTRY_POINT = 'websecure';
/** The auth container: its Compose service name and the port it listens on (auth/Dockerfile). */
export const AUTH = { container: 'auth', port: 8080 } as const;
export const AUTH_URL = `http://${AUTH.container}:${AUTH.port}`;
/**
 * Redis: the one container of docker-compose.yml, which docker-compose.sentinel.yml makes the first
 * master of a Sentinel setup (deploy/sentinel-config.ts), keeping its volume.
 */
export const REDIS_IMAGE = 'redis:7-alpine';
export const REDIS = { container: 'redis', port: 6379, volume: 'redis-data' } as const;
/** Where every MCP service listens in its container (mcp-services/Dockerfile). */
export const SERVICE_PORT = 3000;

/** The MCP services of the stack: every service of the catalogue, each a Compose profile. */
export const MCP_SERVICES: readonly string[] = Object.keys(CATALOGUE);

/**
 * Networks (docker-compose.yml). Named explicitly: `traefik.docker.network` must give Traefik a
 * network's real name, which Compose would otherwise prefix with the project's.
 *   edge           Traefik and auth; not internal: ACME for Traefik, the identity providers for auth.
 *   backend        auth and Redis; internal (no route out).
 *   svc-<name>     one MCP service and Traefik; internal: the service reaches nothing else.
 *   egress-<name>  that service alone, when it needs the internet (catalogue `egress`).
 */
export const NETWORK_PREFIX = 'mcpgw-';
export const EDGE_NETWORK = 'edge';
export const BACKEND_NETWORK = 'backend';
export const serviceNetwork = (name: string): string => `svc-${name}`;
export const egressNetwork = (name: string): string => `egress-${name}`;
export const networkName = (key: string): string => `${NETWORK_PREFIX}${key}`;

/** Router and middleware names. */
export const serviceRouter = (name: string): string => `mcp-${name}`;
export const serviceStripPrefix = (name: string): string => `mcp-${name}-strip`;
export const CHAIN_MIDDLEWARE = 'mcp-chain';
/** Router priorities: an MCP service's above any auth path (routes.ts looks services up first). */
export const PRIORITY = { service: 100, auth: 50 } as const;
