/**
 * The Compose stack without a Docker engine: docker-compose.yml (generated, scripts/generate-deploy.ts)
 * is validated by `docker-compose config` for every profile (Debian's docker-compose v1 needs no
 * engine for that) with the environment scripts/compose.ts gives it, checked for what the deployment
 * relies on; the Dockerfiles are checked; the scripts `just` runs (scripts/compose.ts,
 * scripts/generate-secrets.ts) are unit-tested, and compose.ts is run against a stand-in `docker`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { parse } from 'yaml';
import { serviceEdgeSecret } from '../../auth/src/edge/edge-secret.ts';
import { EDGE_SECRET_HEADER } from '../../contracts/headers.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { SERVICE_NAME, serviceSwitchName } from '../../auth/src/config/schema.ts';
import {
  composeProfiles,
  edgeSecretVariable,
  enabledServices,
  MIN_EDGE_SECRET_LENGTH,
  parseArgs,
  plan,
  profileArgs,
  unknownServices,
} from '../../scripts/compose.ts';
import { EDGE_SECRET_ENV, LOGGING } from '../../scripts/deploy/compose-config.ts';
import { AUTH, MCP_SERVICES, SERVICE_PORT } from '../../scripts/deploy/topology.ts';
import { DEFAULT_TIMEOUT_SECONDS, renderRemoteRoutes } from '../../scripts/deploy/remote-routes.ts';
import { DEFAULT_TIMEOUT_S } from '../../auth/src/config/upstream.ts';
import { fillSecrets, SECRETS, type Secret } from '../../scripts/generate-secrets.ts';
import { composeConfig, EDGE_SECRET, ENV } from '../support/compose-config.ts';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const composeText = read('docker-compose.yml');
const compose: Yaml = parse(composeText);
const services: Record<string, Yaml> = compose.services;

describe('docker-compose config', () => {
  const config = composeConfig;

  test('is valid with every profile, and interpolates .env and the derived edge secrets', () => {
    const { status, stdout, stderr } = config(ENV);
    expect(stderr).not.toMatch(/error/i);
    expect(status).toBe(0);
    const resolved: Yaml = parse(stdout);
    expect(Object.keys(resolved.services).sort()).toEqual(['auth', 'redis', 'traefik', ...MCP_SERVICES].sort());
    const auth = resolved.services.auth.environment;
    expect(auth.REDIS_URL).toBe('redis://:0123abcd@redis:6379/0');
    expect(auth.PUBLIC_URL).toBe('https://mcp.example.com');
    expect(auth.EDGE_SECRET).toBe(EDGE_SECRET);
    expect(resolved.services.traefik.environment.BASE_DOMAIN).toBe('mcp.example.com');
    for (const name of MCP_SERVICES) {
      const env = resolved.services[name].environment;
      expect(env[EDGE_SECRET_ENV]).toBe(serviceEdgeSecret(EDGE_SECRET, name));
      expect(env.PUBLIC_URL).toBe('https://mcp.example.com');
      expect(resolved.services[name].labels[`traefik.http.routers.mcp-${name}.rule`]).toContain(
        'Host(`mcp.example.com`)',
      );
    }
  });

  test.each(['REDIS_PASSWORD', 'BASE_DOMAIN', 'ACME_EMAIL', 'EDGE_SECRET'])('refuses to run without %s', (name) => {
    const { status, stderr } = config(ENV.replace(new RegExp(`^${name}=.*$`, 'm'), ''), { without: [name] });
    expect(status).not.toBe(0);
    expect(stderr).toContain(name);
  });

  test('refuses to start a service without its edge secret: docker compose goes through just', () => {
    const { status, stderr } = config(ENV, { without: [edgeSecretVariable('fetch')] });
    expect(status).not.toBe(0);
    expect(stderr).toContain(edgeSecretVariable('fetch'));
    expect(stderr).toContain('through just');
  });
});

describe('docker-compose.yml', () => {
  test('redis: password, append-only file on a named volume, healthcheck, not published', () => {
    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    const command = redis.command as string[];
    expect(command[command.indexOf('--requirepass') + 1]).toMatch(/^\$\{REDIS_PASSWORD:\?.+\}$/);
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    // Quoted: docker-compose v1 reads YAML 1.1, where a bare yes is a boolean.
    expect(composeText).toContain("- 'yes'");
    const [volume, target] = (redis.volumes[0] as string).split(':');
    expect(target).toBe('/data');
    expect(Object.keys(compose.volumes)).toContain(volume);
    // redis-cli takes the password from REDISCLI_AUTH, not from its command line.
    expect(redis.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(redis.environment.REDISCLI_AUTH).toMatch(/^\$\{REDIS_PASSWORD/);
    expect(redis.ports).toBeUndefined();
  });

  test('auth: waits for a healthy redis, runs behind the proxy, not published', () => {
    const auth = services.auth!;
    expect(auth.depends_on.redis.condition).toBe('service_healthy');
    expect(auth.build.dockerfile).toBe('auth/Dockerfile');
    expect(auth.env_file).toBe('.env');
    expect(auth.environment).toEqual({
      HOST: '0.0.0.0',
      PORT: String(AUTH.port),
      TRUST_PROXY: 'true',
      PUBLIC_URL: 'https://${BASE_DOMAIN:?set BASE_DOMAIN in .env}',
      REDIS_URL: 'redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD (just generate-secrets)}@redis:6379/0',
      EDGE_SECRET: '${EDGE_SECRET:?set EDGE_SECRET (just generate-secrets)}',
    });
    expect(auth.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${AUTH.port}/health`);
    expect(auth.ports).toBeUndefined();
    // No labels: its routers are traefik/dynamic/auth-routes.yml.
    expect(auth.labels).toBeUndefined();
  });

  test('traefik: pinned patch release, docker socket read-only, healthcheck on ping, the only published ports', () => {
    const traefik = services.traefik!;
    expect(traefik.image).toMatch(/^traefik:v3\.\d+\.\d+$/);
    expect(traefik.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock:ro');
    expect(traefik.healthcheck.test).toEqual(['CMD', 'traefik', 'healthcheck', '--ping']);
    expect(traefik.ports).toEqual(['80:80', '443:443']);
    for (const [name, s] of Object.entries(services)) if (name !== 'traefik') expect(s.ports).toBeUndefined();
  });

  test('traefik: the start script checks .env and writes the ACME e-mail into the static configuration', () => {
    const [shell, flags, script] = services.traefik!.entrypoint as string[];
    expect([shell, flags]).toEqual(['/bin/sh', '-euc']);
    const dir = mkdtempSync(join(tmpdir(), 'traefik-'));
    try {
      const local = (script ?? '')
        .replaceAll('$$', '$') // Compose's escape for a literal `$`
        .replaceAll('/etc/traefik/traefik.template.yml', new URL('traefik/traefik.yml', ROOT).pathname)
        .replaceAll('/etc/traefik/traefik.yml', join(dir, 'traefik.yml'))
        .replace(/^exec traefik$/m, 'exit 0');
      const run = (email: string, domain = 'mcp.example.com') =>
        spawnSync('sh', ['-euc', local], {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, ACME_EMAIL: email, BASE_DOMAIN: domain },
        });
      expect(run('ops+acme@example.org').status).toBe(0);
      const rendered: Yaml = parse(readFileSync(join(dir, 'traefik.yml'), 'utf8'));
      expect(rendered.certificatesResolvers.letsencrypt.acme.email).toBe('ops+acme@example.org');
      for (const bad of ['', 'not-an-email', 'a@b/c', 'a@b&c', 'x@y\nz: 1']) expect(run(bad).status).toBe(64);
      // The auth routers' host rule reads BASE_DOMAIN (a Go template): nothing but a host name.
      for (const bad of ['', 'a`) || Path(`/verify', 'a b', 'a/b', 'a"}}']) {
        const result = run('ops@example.org', bad);
        expect([result.status, result.stderr]).toEqual([
          64,
          'traefik: BASE_DOMAIN in .env must be a plain host name\n',
        ]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(MCP_SERVICES)('%s: own profile, shared image recipe, its own edge secret only, MCP healthcheck', (name) => {
    const s = services[name]!;
    expect(s.profiles).toEqual([name]);
    expect(s.build.dockerfile).toBe('mcp-services/Dockerfile');
    expect(s.build.args.MCP_SERVICE).toBe(name);
    expect(s.env_file).toBeUndefined();
    const secrets = Object.keys(s.environment).filter((k) => /SECRET|SIGNING|REDIS|COOKIE/.test(k));
    expect(secrets).toEqual([EDGE_SECRET_ENV]);
    expect(s.environment[EDGE_SECRET_ENV]).toBe(
      `\${${edgeSecretVariable(name)}:?run docker compose through just (docs/deployment.md)}`,
    );
    expect(s.environment.PORT).toBe(String(SERVICE_PORT));
    expect(s.environment.MCP_SERVICE_NAME).toBe(name);
    for (const setting of Object.keys(CATALOGUE[name]!.container.settings)) {
      expect(s.environment[setting]).toMatch(new RegExp(`^\\$\\{${setting}:-`));
    }
    // A real initialize through the service's edge guard: its secret in the edge header.
    const check = s.healthcheck.test.join(' ');
    expect(check).toContain(`http://127.0.0.1:${SERVICE_PORT}/mcp`);
    expect(check).toContain("method:'initialize'");
    expect(check).toContain(`'${EDGE_SECRET_HEADER}':process.env.${EDGE_SECRET_ENV}`);
    expect(s.ports).toBeUndefined();
  });

  test('every container rotates its logs', () => {
    for (const s of Object.values(services)) expect(s.logging).toEqual(LOGGING);
    expect(LOGGING.driver).toBe('json-file');
    expect(Number.parseInt(LOGGING.options['max-file'])).toBeGreaterThan(0);
  });

  test('every MCP service has memory and process limits; tmux and playwright their own', () => {
    for (const name of MCP_SERVICES) {
      expect(services[name]!.mem_limit).toMatch(/^\d+[mg]$/);
      expect(services[name]!.pids_limit).toBeGreaterThan(0);
    }
    for (const name of ['tmux', 'playwright']) {
      expect(services[name]!.mem_limit).toBe(CATALOGUE[name]!.container.limits.memory);
      expect(services[name]!.pids_limit).toBe(CATALOGUE[name]!.container.limits.pids);
    }
    // Chromium needs more shared memory than Docker's 64 MB default.
    expect(services.playwright!.shm_size).toBe('1g');
  });

  test('per-user data on a named volume at the image data directory', () => {
    for (const name of MCP_SERVICES) {
      const volume = CATALOGUE[name]!.container.dataVolume;
      expect(services[name]!.volumes).toEqual(volume ? [`${volume.name}:/data`] : undefined);
      if (volume) {
        expect(services[name]!.environment.MCP_DATA_DIR).toBe('/data');
        expect(compose.volumes).toHaveProperty(volume.name);
      }
    }
  });
});

describe('Dockerfiles', () => {
  interface Stage {
    from: string;
    lines: string[];
  }
  const stages = (text: string): Stage[] => {
    const joined = text.replace(/\\\n/g, ' ');
    const result: Stage[] = [];
    for (const line of joined.split('\n').map((l) => l.trim())) {
      if (line === '' || line.startsWith('#')) continue;
      if (/^FROM\s/i.test(line)) result.push({ from: line, lines: [] });
      else result.at(-1)?.lines.push(line);
    }
    return result;
  };

  test.each(['auth/Dockerfile', 'mcp-services/Dockerfile'])('%s', (path) => {
    const all = stages(read(path));
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const stage of all) {
      expect(stage.from).toMatch(/^FROM node:24-slim\b/);
      const user = stage.lines.filter((l) => /^USER\s/.test(l)).at(-1);
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/);
    }
    const deps = all[0]!.lines.join('\n');
    expect(deps).toMatch(/^RUN npm ci --omit=dev [^|\n]*$/m); // no fallback: tests/deploy/lock-file.test.ts
    expect(deps).not.toMatch(/npm install/);
    const runtime = all.at(-1)!.lines;
    expect(runtime).toContainEqual(expect.stringMatching(/^ENV NODE_ENV=production\b/));
    const healthcheck = runtime.find((l) => l.startsWith('HEALTHCHECK'));
    expect(healthcheck).toMatch(/CMD \["node", "-e", ".*fetch\(.*\/health/);
    expect(runtime.indexOf(runtime.find((l) => l.startsWith('USER'))!)).toBeLessThan(
      runtime.indexOf(runtime.find((l) => l.startsWith('CMD'))!),
    );
  });

  test('.dockerignore keeps secrets, tests and history out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['.env', '.git', 'node_modules', 'tests', 'docs']) expect(ignored).toContain(entry);
  });
});

describe('scripts/compose.ts', () => {
  test('enabled services, as Compose profiles', () => {
    const { services: enabled, problems } = enabledServices({
      MCP_ECHO_STATEFUL_ENABLED: 'true',
      MCP_FETCH_ENABLED: ' YES ',
      MCP_TIME_ENABLED: '1',
      MCP_MEMORY_ENABLED: 'false',
      MCP_TMUX_ENABLED: '',
      MCP_FETCH_SCOPES: 'mcp',
      OTHER: 'true',
    });
    expect(problems).toEqual([]);
    expect(enabled).toEqual(['echo-stateful', 'fetch', 'time']);
    expect(profileArgs(enabled)).toEqual(['--profile', 'echo-stateful', '--profile', 'fetch', '--profile', 'time']);
  });

  test('an invalid name is reported; a service without a profile is found', () => {
    expect(enabledServices({ MCP_9LIVES_ENABLED: 'true' }).problems).toHaveLength(1);
    expect(unknownServices(['fetch', 'nope'], composeProfiles(composeText))).toEqual(['nope']);
  });

  test('reads the profiles of docker-compose.yml, one per MCP service', () => {
    const declared = Object.entries(services)
      .filter(([, s]) => s.profiles)
      .map(([name, s]) => {
        expect(s.profiles).toEqual([name]);
        return name;
      });
    expect(composeProfiles(composeText)).toEqual(declared);
    expect([...declared].sort()).toEqual([...MCP_SERVICES].sort());
  });

  test('maps MCP_<SERVICE>_ENABLED back exactly as the gateway does', () => {
    for (const name of MCP_SERVICES) {
      expect(SERVICE_NAME.test(name)).toBe(true);
      expect(enabledServices({ [serviceSwitchName(name)]: 'true' }).services).toEqual([name]);
      expect(edgeSecretVariable(name)).toBe(serviceSwitchName(name).replace(/_ENABLED$/, '_EDGE_SECRET'));
    }
  });

  test('plan: the enabled profiles, every service secret, EDGE_SECRET as Compose will read it', () => {
    const fileEnv = { MCP_FETCH_ENABLED: 'true', MCP_TIME_ENABLED: 'true', EDGE_SECRET };
    const planned = plan(parseArgs(['up', '-d']), fileEnv, composeText, { PATH: '/bin' });
    if ('problems' in planned) throw new Error(planned.problems.join());
    expect(planned.services).toEqual(['fetch', 'time']);
    expect(planned.invocation.argv).toEqual(['compose', '--profile', 'fetch', '--profile', 'time', 'up', '-d']);
    expect(planned.invocation.env.PATH).toBe('/bin');
    expect(planned.invocation.env.EDGE_SECRET).toBe(EDGE_SECRET);
    // Every service's, enabled or not: Compose interpolates the whole file.
    for (const name of MCP_SERVICES) {
      expect(planned.invocation.env[edgeSecretVariable(name)]).toBe(serviceEdgeSecret(EDGE_SECRET, name));
    }
    // The environment wins over .env, as in Compose's own interpolation.
    const other = 'o'.repeat(40);
    const overridden = plan(parseArgs(['ps']), fileEnv, composeText, { EDGE_SECRET: other });
    if ('problems' in overridden) throw new Error(overridden.problems.join());
    expect(overridden.invocation.env[edgeSecretVariable('fetch')]).toBe(serviceEdgeSecret(other, 'fetch'));
  });

  test('plan: a service at MCP_<SERVICE>_URL has no container; Traefik routes it from remote-services.yml', () => {
    const fileEnv = {
      EDGE_SECRET,
      BASE_DOMAIN: 'mcp.example.com',
      MCP_FETCH_ENABLED: 'true',
      MCP_GITHUB_ENABLED: 'true',
      MCP_GITHUB_URL: 'https://api.githubcopilot.com/mcp/',
      MCP_GITHUB_AUTH: 'user',
      MCP_GITHUB_TIMEOUT: '20',
    };
    const planned = plan(parseArgs(['up', '-d']), fileEnv, composeText, {});
    if ('problems' in planned) throw new Error(planned.problems.join());
    expect(planned.services).toEqual(['fetch']);
    expect(planned.remote.map((r) => [r.name, r.url.href, r.upstreamAuth, r.timeoutSeconds])).toEqual([
      ['github', 'https://api.githubcopilot.com/mcp/', true, 20],
    ]);
    const file = parse(renderRemoteRoutes(planned.remote, planned.domain)) as {
      http: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(file.http.routers!['mcp-github']).toEqual({
      rule: 'Host(`mcp.example.com`) && (Path(`/github/mcp`) || Path(`/github/mcp/`))',
      entryPoints: ['websecure'],
      priority: 100,
      middlewares: ['mcp-chain-upstream@file', 'mcp-github-answers', 'mcp-github-withhold', 'mcp-github-path'],
      service: 'mcp-github',
    });
    expect(file.http.middlewares!['mcp-github-answers']).toEqual({
      errors: { status: ['401', '502', '504'], service: 'auth@file', query: '/verify/upstream/github/{status}' },
    });
    expect(file.http.middlewares!['mcp-github-path']).toEqual({
      replacePathRegex: { regex: '^/github/mcp', replacement: '/mcp/' },
    });
    expect(file.http.services!['mcp-github']).toEqual({
      loadBalancer: {
        servers: [{ url: 'https://api.githubcopilot.com' }],
        passHostHeader: false,
        serversTransport: 'mcp-github',
      },
    });
    expect(file.http.serversTransports!['mcp-github']).toEqual({
      forwardingTimeouts: { responseHeaderTimeout: '20s' },
    });
    // Without a host name to route on, nothing starts.
    const { BASE_DOMAIN: _domain, ...noDomain } = fileEnv;
    expect(plan(parseArgs(['up']), noDomain, composeText, {})).toEqual({
      problems: [expect.stringContaining('BASE_DOMAIN')],
    });
    // Unset, the timeout is the gateway's own default for it.
    const { MCP_GITHUB_TIMEOUT: _timeout, ...noTimeout } = fileEnv;
    const defaulted = plan(parseArgs(['up']), noTimeout, composeText, {});
    if ('problems' in defaulted) throw new Error(defaulted.problems.join());
    expect(defaulted.remote[0]!.timeoutSeconds).toBe(DEFAULT_TIMEOUT_SECONDS);
    expect(DEFAULT_TIMEOUT_SECONDS).toBe(DEFAULT_TIMEOUT_S);
    // No remote service: an empty configuration, still valid.
    expect(parse(renderRemoteRoutes([], ''))).toEqual({ http: {} });
  });

  test('plan: --all, --env-file; problems stop it', () => {
    const all = plan(parseArgs(['--dotenv', 'x.env', '--all', 'down']), { EDGE_SECRET }, composeText, {});
    if ('problems' in all) throw new Error(all.problems.join());
    expect(all.invocation.argv).toEqual(['compose', '--env-file', 'x.env', ...profileArgs(MCP_SERVICES), 'down']);
    expect(parseArgs(['--services'])).toMatchObject({ services: true, rest: [] });
    // Our flags only before docker compose's arguments.
    expect(parseArgs(['logs', '--all'])).toMatchObject({ all: false, rest: ['logs', '--all'] });
    const short = plan(parseArgs(['up']), { EDGE_SECRET: 'short' }, composeText, {});
    expect(short).toEqual({ problems: [expect.stringContaining('EDGE_SECRET')] });
    const problems = plan(
      parseArgs(['up']),
      { EDGE_SECRET, MCP_NOPE_ENABLED: 'true', MCP_9_ENABLED: 'true' },
      composeText,
      {},
    );
    expect('problems' in problems && problems.problems).toEqual([
      expect.stringContaining('"9" is not a valid service name'),
      expect.stringContaining('no service with profile "nope"'),
    ]);
  });

  describe('run against a stand-in docker', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'compose-run-'));
      // Records its arguments and the secrets it was given, exits with $EXIT_CODE.
      writeFileSync(
        join(dir, 'docker'),
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\nprintf "%s\\n" "$EDGE_SECRET" "$MCP_FETCH_EDGE_SECRET" >> "$RECORD"\nexit "${EXIT_CODE:-0}"\n',
      );
      chmodSync(join(dir, 'docker'), 0o755);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const run = (env: string, args: string[], exitCode = 0) => {
      writeFileSync(join(dir, '.env'), env);
      const result = spawnSync(process.execPath, [new URL('scripts/compose.ts', ROOT).pathname, ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { PATH: `${dir}:${process.env.PATH}`, RECORD: join(dir, 'record'), EXIT_CODE: String(exitCode) },
      });
      let record: string[] = [];
      try {
        record = readFileSync(join(dir, 'record'), 'utf8').trimEnd().split('\n');
        rmSync(join(dir, 'record'));
      } catch {
        // docker did not run
      }
      return { ...result, record };
    };

    test('runs docker compose with the profiles and the secrets, and passes its exit code on', () => {
      const env = `${ENV}MCP_FETCH_ENABLED=true\n`;
      const ok = run(env, ['up', '-d', '--build']);
      expect(ok.status).toBe(0);
      expect(ok.record).toEqual([
        'compose',
        '--profile',
        'fetch',
        'up',
        '-d',
        '--build',
        EDGE_SECRET,
        serviceEdgeSecret(EDGE_SECRET, 'fetch'),
      ]);
      expect(run(env, ['ps'], 3).status).toBe(3);
      expect(run(env, ['--services']).stdout).toBe('fetch\n');
    });

    test('refuses, without running docker, when .env is missing, invalid or without EDGE_SECRET', () => {
      const bad = run('MCP_NOPE_ENABLED=true\n', ['up']);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('no service with profile "nope"');
      expect(bad.stderr).toContain('EDGE_SECRET');
      expect(bad.record).toEqual([]);
      const missing = spawnSync(
        process.execPath,
        [new URL('scripts/compose.ts', ROOT).pathname, '--dotenv', join(dir, 'none'), 'up'],
        { encoding: 'utf8', env: { PATH: process.env.PATH } },
      );
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain('just generate-secrets');
    });
  });
});

describe('scripts/generate-secrets.ts', () => {
  let n = 0;
  const secrets: Secret[] = ['A', 'B', 'C'].map((name) => ({
    name,
    doc: [`about ${name}`],
    generate: () => `v${++n}`,
  }));
  /** Fake secrets A, B and C whose values count v1, v2... from each call. */
  const fake = (): Secret[] => {
    n = 0;
    return secrets;
  };

  test('fills empty values only, keeping comments and order', () => {
    const before = '# head\nA=\nX=1\n# about B\nB=keep\nC=""\n';
    expect(fillSecrets(before, fake())).toEqual({
      text: '# head\nA=v1\nX=1\n# about B\nB=keep\nC=v2\n',
      filled: ['A', 'C'],
    });
  });

  test('appends a missing secret with its comment; the last of repeated lines counts', () => {
    expect(fillSecrets('B=x\nA=1\nA=\nC=z', fake())).toEqual({ text: 'B=x\nA=1\nA=v1\nC=z', filled: ['A'] });
    expect(fillSecrets('A=1\nB=2', fake()).text).toBe('A=1\nB=2\n\n# about C\nC=v1\n');
    expect(fillSecrets('', fake()).text).toBe('# about A\nA=v1\n\n# about B\nB=v2\n\n# about C\nC=v3\n');
    expect(fillSecrets('# A=commented\nA=  # empty\n', fake()).text.split('\n').slice(0, 2)).toEqual([
      '# A=commented',
      'A=v1',
    ]);
  });

  test('is idempotent, and never changes a set value', () => {
    const once = fillSecrets(read('.env.example')).text;
    expect(fillSecrets(once)).toEqual({ text: once, filled: [] });
    expect(fillSecrets('A=1\r\nB=\r\nC=3\r\n', fake()).text).toBe('A=1\r\nB=v1\r\nC=3\r\n');
  });

  test('generates secrets the gateway and the stack accept', () => {
    const filled = fillSecrets(read('.env.example'));
    // Not SIGNING_KEY: left unset, the key is generated and kept in storage, where `just keys-rotate`
    // (auth/src/cli.ts keys rotate) can rotate it; with SIGNING_KEY set, that command refuses.
    expect(filled.filled.sort()).toEqual(['COOKIE_SECRETS', 'EDGE_SECRET', 'REDIS_PASSWORD']);
    const env = dotenv.parse(filled.text);
    expect(env.SIGNING_KEY).toBe('');
    expect(env.COOKIE_SECRETS?.length).toBeGreaterThanOrEqual(32);
    expect(env.COOKIE_SECRETS).not.toContain(',');
    expect(env.REDIS_PASSWORD).toMatch(/^[0-9a-f]{64}$/); // safe inside redis://:<password>@
    // What auth/src/config/load.ts and scripts/compose.ts require.
    expect(env.EDGE_SECRET?.length).toBeGreaterThanOrEqual(MIN_EDGE_SECRET_LENGTH);
    expect(loadConfig({ EDGE_SECRET: env.EDGE_SECRET! }).edgeSecret).toBe(env.EDGE_SECRET);
    expect(SECRETS.map((s) => s.generate()).every((v, i, all) => all.indexOf(v) === i)).toBe(true);
  });
});
