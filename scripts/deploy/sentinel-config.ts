/**
 * docker-compose.sentinel.yml: Redis Sentinel instead of the one Redis of docker-compose.yml, as a
 * Compose override of it (`COMPOSE_FILE=docker-compose.yml:docker-compose.sentinel.yml`, `just
 * up-sentinel`, docs/operations.md). The Redis of docker-compose.yml, with its volume, is the first
 * master; a replica of it and three sentinels (quorum 2) join it on the backend network; the auth
 * service asks the sentinels for the master (REDIS_SENTINELS, auth/src/config/schema.ts). Every
 * container is made from docker-compose.yml's Redis (compose-config.ts `redis()`): same image,
 * network, password, logging.
 *
 * Each Redis container keeps its configuration file in its volume, written at its first start:
 * Sentinel rewrites these files (a node's role after a failover, what a sentinel knows), so a
 * container that restarts comes back as what it was. The password is not taken from them: it is
 * .env's at every start.
 */
import { settings } from '../../auth/src/config/schema.ts';
import { AUTH, REDIS } from './topology.ts';
import { healthcheck, REDIS_PASSWORD, redis } from './compose-config.ts';

type Yaml = Record<string, unknown>;

export const SENTINEL_COMPOSE_FILE = 'docker-compose.sentinel.yml';
/** The master name the sentinels monitor: the gateway's default REDIS_SENTINEL_NAME. */
export const MASTER_NAME = settings.REDIS_SENTINEL_NAME.default;
/** The replica of the first master. */
export const REPLICA = { container: 'redis-replica', volume: 'redis-replica-data' } as const;
export const SENTINEL_PORT = 26379;
export const SENTINELS = [1, 2, 3].map((n) => ({
  container: `redis-sentinel-${n}`,
  volume: `redis-sentinel-${n}-data`,
}));
/** Sentinels that must agree that the master is down before one of them fails it over. */
export const QUORUM = 2;
/** How long the master may not answer before a sentinel thinks it down (Redis' default: 30 s). */
export const DOWN_AFTER_MS = 5000;
export const FAILOVER_TIMEOUT_MS = 60_000;
/** What the auth container is given: REDIS_SENTINELS. */
export const SENTINEL_ADDRESSES = SENTINELS.map((s) => `${s.container}:${SENTINEL_PORT}`).join(',');

/** The node's configuration file (in its volume), and the sentinels'. */
const NODE_CONF = 'redis.conf';
const SENTINEL_CONF = 'sentinel.conf';

/**
 * The start script of a Redis node (`sh -euc`; `$$` is Compose's escape for `$`). It runs as root
 * in the image's working directory, /data (its volume); docker-entrypoint.sh then hands /data to
 * the redis user and starts redis-server as that user, as for the image's own command.
 */
export function nodeScript(self: string, replicaOf?: string): string {
  return [
    replicaOf
      ? `[ -f ${NODE_CONF} ] || printf '%s\\n' 'replicaof ${replicaOf} ${REDIS.port}' > ${NODE_CONF}`
      : `touch ${NODE_CONF}`,
    `sed -i -e '/^requirepass /d' -e '/^masterauth /d' -e '/^user default /d' ${NODE_CONF}`,
    `exec docker-entrypoint.sh redis-server ./${NODE_CONF} --port ${REDIS.port} --appendonly yes ` +
      `--replica-announce-ip ${self} --requirepass "$$REDIS_PASSWORD" --masterauth "$$REDIS_PASSWORD"`,
    '',
  ].join('\n');
}

/** The start script of a sentinel: its own configuration file, then redis-server in sentinel mode. */
export function sentinelScript(self: string): string {
  const conf = [
    'sentinel resolve-hostnames yes',
    'sentinel announce-hostnames yes',
    `sentinel announce-ip ${self}`,
    `sentinel monitor ${MASTER_NAME} ${REDIS.container} ${REDIS.port} ${QUORUM}`,
    `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
    `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
    `sentinel parallel-syncs ${MASTER_NAME} 1`,
  ];
  return [
    `[ -f ${SENTINEL_CONF} ] || printf '%s\\n' ${conf.map((l) => `'${l}'`).join(' ')} > ${SENTINEL_CONF}`,
    `sed -i -e '/^requirepass /d' -e '/^user default /d' -e '/^sentinel auth-pass /d' ${SENTINEL_CONF}`,
    `exec docker-entrypoint.sh redis-server ./${SENTINEL_CONF} --sentinel --port ${SENTINEL_PORT} ` +
      `--requirepass "$$REDIS_PASSWORD" --sentinel auth-pass ${MASTER_NAME} "$$REDIS_PASSWORD"`,
    '',
  ].join('\n');
}

const healthy = { condition: 'service_healthy' };
/**
 * Started, not healthy: after a failover `redis` is a replica, healthy only once it has synced with
 * the master, which may be the container waiting for it.
 */
const started = { condition: 'service_started' };
/** The password, for the start scripts and for redis-cli (the healthchecks). */
const PASSWORD_ENV = { REDIS_PASSWORD, REDISCLI_AUTH: REDIS_PASSWORD };

/** A node is healthy as the master, or as a replica in sync with one: whatever its role is now. */
const nodeHealthcheck = () =>
  healthcheck(
    ['CMD-SHELL', "redis-cli info replication | grep -qE '^(role:master|master_link_status:up)'"],
    '10s',
    '5s',
    5,
    '10s',
  );

function node(self: string, volume: string, replicaOf?: string): Yaml {
  return {
    ...redis(),
    command: ['sh', '-euc', nodeScript(self, replicaOf)],
    environment: PASSWORD_ENV,
    volumes: [`${volume}:/data`],
    healthcheck: nodeHealthcheck(),
    ...(replicaOf ? { depends_on: { [replicaOf]: started } } : {}),
  };
}

function sentinel(self: string, volume: string): Yaml {
  return {
    ...redis(),
    command: ['sh', '-euc', sentinelScript(self)],
    environment: PASSWORD_ENV,
    volumes: [`${volume}:/data`],
    depends_on: { [REDIS.container]: started },
    // Healthy while it and at least one other sentinel can agree on a failover and authorize it.
    healthcheck: healthcheck(
      ['CMD-SHELL', `redis-cli -p ${SENTINEL_PORT} sentinel ckquorum ${MASTER_NAME} | grep -q '^OK'`],
      '10s',
      '5s',
      5,
      '10s',
    ),
  };
}

export function sentinelComposeFile(): Yaml {
  return {
    services: {
      // Only what changes: Compose merges this into docker-compose.yml's redis.
      [REDIS.container]: {
        command: ['sh', '-euc', nodeScript(REDIS.container)],
        environment: PASSWORD_ENV,
        healthcheck: nodeHealthcheck(),
      },
      [REPLICA.container]: node(REPLICA.container, REPLICA.volume, REDIS.container),
      ...Object.fromEntries(SENTINELS.map((s) => [s.container, sentinel(s.container, s.volume)])),
      [AUTH.container]: {
        environment: {
          REDIS_SENTINELS: SENTINEL_ADDRESSES,
          REDIS_SENTINEL_NAME: MASTER_NAME,
          REDIS_SENTINEL_PASSWORD: REDIS_PASSWORD,
          REDIS_URL: `redis://:${REDIS_PASSWORD}@sentinel/0`,
        },
        depends_on: {
          [REDIS.container]: started,
          ...Object.fromEntries(SENTINELS.map((s) => [s.container, healthy])),
        },
      },
    },
    volumes: Object.fromEntries([REPLICA.volume, ...SENTINELS.map((s) => s.volume)].map((v) => [v, null])),
  };
}

/** Comments placed above keys of the generated file (path of the key → text). */
export function sentinelComments(): [string[], string][] {
  return [
    [
      ['services', REDIS.container],
      `The first master, with docker-compose.yml's volume (its data stays). Its configuration file is ` +
        `/data/${NODE_CONF}, written at the first start and rewritten by Sentinel when it changes the node's role; ` +
        `the password is .env's at every start. It announces itself by name, as every container here: Docker ` +
        `gives a container a new address when it is recreated.`,
    ],
    [
      ['services', REPLICA.container],
      `A replica of ${REDIS.container} at the first start; after a failover, whatever Sentinel made it.`,
    ],
    [
      ['services', SENTINELS[0]!.container],
      `Three sentinels; ${QUORUM} must find the master unreachable (${DOWN_AFTER_MS / 1000} s without an ` +
        `answer) before one of them, elected by a majority, promotes the replica. Their configuration file, ` +
        `/data/${SENTINEL_CONF}, is theirs to rewrite (what they know of the master, the replicas and each ` +
        `other): written at the first start only.`,
    ],
    [
      ['services', REDIS.container, 'healthcheck'],
      'Healthy as the master, or as a replica in sync with one: whichever Sentinel made it (so is the replica).',
    ],
    [
      ['services', AUTH.container, 'depends_on'],
      `Once the sentinels can fail the master over (their healthcheck). ${REDIS.container} only started: after a ` +
        `failover it is a replica, healthy once the master it follows is up.`,
    ],
    [
      ['services', AUTH.container, 'environment'],
      `The gateway asks the sentinels for the master (auth/src/config/schema.ts). REDIS_URL now gives only ` +
        `the master's password and database: its host is not used.`,
    ],
  ];
}

/** The containers that are Redis in the Sentinel stack: the first master, the replica, the sentinels. */
export const SENTINEL_REDIS_CONTAINERS = [REDIS.container, REPLICA.container, ...SENTINELS.map((s) => s.container)];
