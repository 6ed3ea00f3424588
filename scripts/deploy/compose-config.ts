/**
 * docker-compose.yml, whole: Traefik, Redis, auth, and one container per catalogue service
 * (mcp-services/catalogue.ts), each a Compose profile of its own name, enabled through
 * scripts/compose.ts. See topology.ts for the networks.
 */
import { EDGE_SECRET_HEADER, IDENTITY } from '../../contracts/headers.ts';
import { CATALOGUE, type ServiceEntry } from '../../mcp-services/catalogue.ts';
import { serviceLabels } from './traefik-config.ts';
import {
  AUTH,
  BACKEND_NETWORK,
  EDGE_NETWORK,
  MCP_SERVICES,
  REDIS,
  REDIS_IMAGE,
  SERVICE_PORT,
  TRAEFIK_IMAGE,
  egressNetwork,
  networkName,
  serviceNetwork,
} from './topology.ts';
import { edgeSecretVariable } from '../compose.ts';

type Yaml = Record<string, unknown>;

/** Where a service finds its edge secret (mcp-services/shared/edge-guard.ts, auth/src/edge/children.ts). */
export const EDGE_SECRET_ENV = 'MCP_EDGE_SECRET';
export const THROUGH_JUST = 'run docker compose through just (docs/deployment.md)';

export const required = (name: string, why: string): string => `\${${name}:?${why}}`;
const BASE_DOMAIN = required('BASE_DOMAIN', 'set BASE_DOMAIN in .env');
export const REDIS_PASSWORD = required('REDIS_PASSWORD', 'set REDIS_PASSWORD (just generate-secrets)');
/** A value Compose must not interpolate (`$$` is a literal `$`). */
const literal = (s: string): string => s.replaceAll('$', '$$$$');

/** Rotated logs on every container (Docker's json-file driver keeps everything by default). */
export const LOGGING = { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } };

export const healthcheck = (
  test: string[],
  interval: string,
  timeout: string,
  retries: number,
  startPeriod: string,
) => ({
  test,
  interval,
  timeout,
  retries,
  start_period: startPeriod,
});

/**
 * An MCP service's healthcheck: a real MCP initialize on its own port, through its edge guard
 * (the secret from its environment), as the user `healthcheck:local`; a session it opens is closed
 * again with DELETE. Slim images have no curl.
 */
function serviceHealthcheck() {
  const script =
    `const u='http://127.0.0.1:${SERVICE_PORT}/mcp',h={'content-type':'application/json','accept':'application/json, text/event-stream',` +
    `'${IDENTITY.id}':'healthcheck:local','${IDENTITY.login}':'healthcheck','${IDENTITY.provider}':'healthcheck','${EDGE_SECRET_HEADER}':process.env.${EDGE_SECRET_ENV}||''};` +
    `fetch(u,{method:'POST',headers:h,signal:AbortSignal.timeout(8000),body:JSON.stringify({jsonrpc:'2.0',id:1,method:'initialize',params:{protocolVersion:'2025-06-18',capabilities:{},clientInfo:{name:'healthcheck',version:'1.0.0'}}})})` +
    `.then(async(r)=>{const s=r.headers.get('mcp-session-id');await r.body?.cancel();if(s)await fetch(u,{method:'DELETE',headers:{...h,'mcp-session-id':s}}).catch(()=>{});process.exit(r.ok?0:1)},()=>process.exit(1))`;
  return healthcheck(['CMD', 'node', '-e', literal(script)], '30s', '10s', 3, '30s');
}

const TRAEFIK_START = `bad() { echo "traefik: $$1" >&2; exit 64; }
case "$$ACME_EMAIL" in ?*@?*) ;; *) bad 'ACME_EMAIL in .env must be a plain e-mail address' ;; esac
case "$$ACME_EMAIL" in *[!A-Za-z0-9._+@-]* | *@*@*) bad 'ACME_EMAIL in .env must be a plain e-mail address' ;; esac
case "$$BASE_DOMAIN" in '' | *[!A-Za-z0-9.-]*) bad 'BASE_DOMAIN in .env must be a plain host name' ;; esac
sed 's/[$$]{ACME_EMAIL}/'"$$ACME_EMAIL"'/' /etc/traefik/traefik.template.yml > /etc/traefik/traefik.yml
exec traefik
`;

function traefik(): Yaml {
  return {
    image: TRAEFIK_IMAGE,
    restart: 'unless-stopped',
    entrypoint: ['/bin/sh', '-euc', TRAEFIK_START],
    environment: {
      ACME_EMAIL: required('ACME_EMAIL', "set ACME_EMAIL in .env (Let's Encrypt account e-mail)"),
      // Read by the auth routers' host rule (traefik/dynamic/auth-routes.yml, a Go template).
      BASE_DOMAIN,
    },
    ports: ['80:80', '443:443'],
    volumes: [
      '/var/run/docker.sock:/var/run/docker.sock:ro',
      './traefik/traefik.yml:/etc/traefik/traefik.template.yml:ro',
      './traefik/dynamic:/etc/traefik/dynamic:ro',
      'acme:/acme',
    ],
    networks: [EDGE_NETWORK, ...MCP_SERVICES.map(serviceNetwork)],
    healthcheck: healthcheck(['CMD', 'traefik', 'healthcheck', '--ping'], '30s', '5s', 3, '10s'),
    logging: LOGGING,
  };
}

/** The one Redis; docker-compose.sentinel.yml's Redis containers are made from it (deploy/sentinel-config.ts). */
export function redis(): Yaml {
  return {
    image: REDIS_IMAGE,
    restart: 'unless-stopped',
    command: ['redis-server', '--requirepass', REDIS_PASSWORD, '--appendonly', 'yes'],
    // redis-cli reads the password from here: the healthcheck's command line carries no secret.
    environment: { REDISCLI_AUTH: REDIS_PASSWORD },
    volumes: [`${REDIS.volume}:/data`],
    networks: [BACKEND_NETWORK],
    healthcheck: healthcheck(['CMD', 'redis-cli', 'ping'], '10s', '5s', 5, '5s'),
    logging: LOGGING,
  };
}

function auth(): Yaml {
  return {
    build: { context: '.', dockerfile: 'auth/Dockerfile' },
    restart: 'unless-stopped',
    env_file: '.env',
    environment: {
      HOST: '0.0.0.0',
      PORT: String(AUTH.port),
      // Only Traefik reaches the auth service (no published port), so its X-Forwarded-* are trusted.
      TRUST_PROXY: 'true',
      PUBLIC_URL: `https://${BASE_DOMAIN}`,
      REDIS_URL: `redis://:${REDIS_PASSWORD}@${REDIS.container}:${REDIS.port}/0`,
      // The root of every service's edge secret, which /verify answers with (edge/edge-secret.ts).
      EDGE_SECRET: required('EDGE_SECRET', 'set EDGE_SECRET (just generate-secrets)'),
    },
    depends_on: { [REDIS.container]: { condition: 'service_healthy' } },
    networks: [EDGE_NETWORK, BACKEND_NETWORK],
    healthcheck: healthcheck(
      [
        'CMD',
        'node',
        '-e',
        `fetch('http://127.0.0.1:${AUTH.port}/health').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
      ],
      '15s',
      '5s',
      3,
      '20s',
    ),
    logging: LOGGING,
  };
}

function mcpService(name: string, entry: ServiceEntry): Yaml {
  const c = entry.container;
  const args: Record<string, string> = { MCP_SERVICE: name };
  if (c.aptPackages.length) args.APT_PACKAGES = c.aptPackages.join(' ');
  if (c.npmPackages.length) args.NPM_PACKAGES = c.npmPackages.join(' ');
  return {
    profiles: [name],
    build: { context: '.', dockerfile: 'mcp-services/Dockerfile', args },
    // Exactly what `npm start` runs (catalogue.ts), from the image's copy of the files.
    command: c.command.map(literal),
    restart: 'unless-stopped',
    // Deliberately not .env: the services never see the gateway's secrets (SIGNING_KEY,
    // COOKIE_SECRETS, GITHUB_CLIENT_SECRET, REDIS_PASSWORD, EDGE_SECRET), only their own edge secret.
    environment: {
      HOST: '0.0.0.0',
      PORT: String(SERVICE_PORT),
      MCP_SERVICE_NAME: name,
      PUBLIC_URL: `https://${BASE_DOMAIN}`,
      MCP_ALLOWED_ORIGINS: '${ALLOWED_ORIGINS:-}',
      LOG_LEVEL: '${LOG_LEVEL:-info}',
      [EDGE_SECRET_ENV]: required(edgeSecretVariable(name), THROUGH_JUST),
      ...Object.fromEntries(Object.entries(c.environment).map(([k, v]) => [k, literal(v)])),
      ...Object.fromEntries(Object.entries(c.settings).map(([k, v]) => [k, `\${${k}:-${literal(v)}}`])),
    },
    ...(c.dataVolume ? { volumes: [`${c.dataVolume.name}:${c.dataVolume.mount}`] } : {}),
    networks: [serviceNetwork(name), ...(c.egress ? [egressNetwork(name)] : [])],
    depends_on: { [AUTH.container]: { condition: 'service_healthy' } },
    healthcheck: serviceHealthcheck(),
    mem_limit: c.limits.memory,
    pids_limit: c.limits.pids,
    ...(c.limits.shm ? { shm_size: c.limits.shm } : {}),
    logging: LOGGING,
    labels: serviceLabels(name),
  };
}

function networks(): Yaml {
  const net = (key: string, internal: boolean) => [key, { name: networkName(key), ...(internal ? { internal } : {}) }];
  return Object.fromEntries([
    net(EDGE_NETWORK, false),
    net(BACKEND_NETWORK, true),
    ...MCP_SERVICES.map((name) => net(serviceNetwork(name), true)),
    ...MCP_SERVICES.filter((name) => CATALOGUE[name]!.container.egress).map((name) => net(egressNetwork(name), false)),
  ]);
}

export function composeFile(): Yaml {
  const volumes = [
    'acme',
    REDIS.volume,
    ...MCP_SERVICES.flatMap((n) => CATALOGUE[n]!.container.dataVolume?.name ?? []),
  ];
  return {
    services: {
      traefik: traefik(),
      [REDIS.container]: redis(),
      [AUTH.container]: auth(),
      ...Object.fromEntries(MCP_SERVICES.map((name) => [name, mcpService(name, CATALOGUE[name]!)])),
    },
    networks: networks(),
    volumes: Object.fromEntries(volumes.map((v) => [v, null])),
  };
}

/** Comments placed above keys of the generated file (path of the key → text). */
export function composeComments(): [string[], string][] {
  return [
    [['services', 'traefik', 'entrypoint'], TRAEFIK_ENTRYPOINT_COMMENT],
    [['services', 'traefik', 'volumes'], 'Read-only for Traefik; access to the Docker API is still root-equivalent.'],
    [['services', 'redis', 'networks'], 'backend only: auth is the one container that reaches Redis.'],
    [
      ['services', AUTH.container, 'networks'],
      'edge: Traefik, and the way out to the identity providers; backend: Redis.',
    ],
    ...MCP_SERVICES.map((name): [string[], string] => {
      const egress = CATALOGUE[name]!.container.egress;
      return [
        ['services', name, 'networks'],
        egress
          ? `Its own network with Traefik, and a way out of its own: ${egress}.`
          : 'Only its own network with Traefik: no other container, and no way out.',
      ];
    }),
  ];
}

const TRAEFIK_ENTRYPOINT_COMMENT =
  'Traefik reads its static configuration from a file OR flags OR environment, never a mix, and a file ' +
  "cannot read the environment: check .env's values, render ${ACME_EMAIL} into traefik/traefik.yml at " +
  "Traefik's default location (read by `traefik` and `traefik healthcheck`), then start. BASE_DOMAIN is " +
  'read by the auth routers (traefik/dynamic/auth-routes.yml): a host name only, nothing a rule could misread.';
