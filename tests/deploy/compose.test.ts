/**
 * The Compose stack without a Docker engine: `docker-compose config` validates docker-compose.yml
 * for every profile (Debian's docker-compose v1 needs no engine for that), the file and the
 * Dockerfiles are checked for what the deployment relies on, and the scripts `just` runs
 * (scripts/compose-profiles.ts, scripts/generate-secrets.ts) are unit-tested.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dotenv from 'dotenv';
import { parse } from 'yaml';
import { SERVICE_NAME, serviceSwitchName } from '../../auth/src/config/schema.ts';
import { composeProfiles, enabledServices, profileArgs, unknownServices } from '../../scripts/compose-profiles.ts';
import { fillSecrets, SECRETS, type Secret } from '../../scripts/generate-secrets.ts';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');

type Yaml = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const composeText = read('docker-compose.yml');
const compose: Yaml = parse(composeText, { merge: true });
const services: Record<string, Yaml> = compose.services;

/** Every service of the catalogue (mcp-services/catalogue.ts): each must be deployable. */
const MCP_SERVICES = Object.keys(CATALOGUE);

describe('docker-compose config', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'compose-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs docker-compose config with this .env (env_file and interpolation), every profile on. */
  function config(env: string): { status: number | null; stdout: string; stderr: string } {
    writeFileSync(join(dir, '.env'), env);
    const result = spawnSync(
      'docker-compose',
      [
        '--project-directory',
        dir,
        '--env-file',
        join(dir, '.env'),
        '-f',
        new URL('docker-compose.yml', ROOT).pathname,
        ...profileArgs(MCP_SERVICES),
        'config',
      ],
      // Only the temporary .env may provide values, not this process's environment.
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        "docker-compose is not installed: install Debian's package (`apt-get install docker-compose`); .ci/run does.",
      );
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  const ENV = 'BASE_DOMAIN=mcp.example.com\nACME_EMAIL=admin@example.com\nREDIS_PASSWORD=0123abcd\n';

  test('is valid with every profile, and interpolates .env', () => {
    const { status, stdout, stderr } = config(ENV);
    expect(stderr).not.toMatch(/error/i);
    expect(status).toBe(0);
    const resolved: Yaml = parse(stdout);
    expect(Object.keys(resolved.services).sort()).toEqual(['auth', 'redis', 'traefik', ...MCP_SERVICES].sort());
    expect(resolved.services.auth.environment.REDIS_URL).toBe('redis://:0123abcd@redis:6379/0');
    expect(resolved.services.auth.environment.PUBLIC_URL).toBe('https://mcp.example.com');
    expect(resolved.services.auth.labels['traefik.http.routers.gateway-auth-token.rule']).toBe(
      'Host(`mcp.example.com`) && Path(`/token`)',
    );
  });

  test.each(['REDIS_PASSWORD', 'BASE_DOMAIN', 'ACME_EMAIL'])('refuses to run without %s', (name) => {
    const { status, stderr } = config(ENV.replace(new RegExp(`^${name}=.*$`, 'm'), ''));
    expect(status).not.toBe(0);
    expect(stderr).toContain(name);
  });
});

describe('docker-compose.yml', () => {
  test('redis: password, append-only file on a named volume, healthcheck, not published', () => {
    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    const command = redis.command as string[];
    expect(command[command.indexOf('--requirepass') + 1]).toMatch(/^\$\{REDIS_PASSWORD:\?.+\}$/);
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
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
      PORT: '8080',
      TRUST_PROXY: 'true',
      PUBLIC_URL: 'https://${BASE_DOMAIN:?set BASE_DOMAIN in .env}',
      REDIS_URL: 'redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD (just generate-secrets)}@redis:6379/0',
    });
    expect(auth.healthcheck.test.join(' ')).toContain('http://127.0.0.1:8080/health');
    expect(auth.ports).toBeUndefined();
  });

  test('traefik: pinned v3 minor, docker socket read-only, healthcheck on ping', () => {
    const traefik = services.traefik!;
    expect(traefik.image).toMatch(/^traefik:v3\.\d+$/);
    expect(traefik.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock:ro');
    expect(traefik.healthcheck.test).toEqual(['CMD', 'traefik', 'healthcheck', '--ping']);
  });

  test('traefik: the start script writes the ACME e-mail into the static configuration', () => {
    const [shell, flags, script] = services.traefik!.entrypoint as string[];
    expect([shell, flags]).toEqual(['/bin/sh', '-euc']);
    const dir = mkdtempSync(join(tmpdir(), 'traefik-'));
    try {
      const local = (script ?? '')
        .replaceAll('$$', '$') // Compose's escape for a literal `$`
        .replaceAll('/etc/traefik/traefik.template.yml', new URL('traefik/traefik.yml', ROOT).pathname)
        .replaceAll('/etc/traefik/traefik.yml', join(dir, 'traefik.yml'))
        .replace(/^exec traefik$/m, 'exit 0');
      const run = (email: string) =>
        spawnSync('sh', ['-euc', local], { encoding: 'utf8', env: { PATH: process.env.PATH, ACME_EMAIL: email } });
      expect(run('ops+acme@example.org').status).toBe(0);
      const rendered: Yaml = parse(readFileSync(join(dir, 'traefik.yml'), 'utf8'));
      expect(rendered.certificatesResolvers.letsencrypt.acme.email).toBe('ops+acme@example.org');
      for (const bad of ['', 'not-an-email', 'a@b/c', 'a@b&c', 'x@y\nz: 1']) expect(run(bad).status).toBe(64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(MCP_SERVICES)('%s: own profile, shared image recipe, no gateway secrets, MCP healthcheck', (name) => {
    const s = services[name]!;
    expect(s.profiles).toEqual([name]);
    expect(s.build.dockerfile).toBe('mcp-services/Dockerfile');
    expect(s.build.args.MCP_SERVICE).toBe(name);
    expect(s.command[0]).toBe('node');
    expect(s.command[1]).toMatch(/^mcp-services\/[a-z-]+\/src\/main\.ts$/);
    expect(s.env_file).toBeUndefined();
    expect(Object.keys(s.environment)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/SECRET|SIGNING|REDIS|COOKIE/)]),
    );
    expect(s.environment.PORT).toBe('3000');
    expect(s.healthcheck.test.join(' ')).toMatch(
      /method:'initialize'.*http:\/\/127\.0\.0\.1:3000\/mcp|3000\/mcp.*initialize/s,
    );
    expect(s.ports).toBeUndefined();
  });

  test('every service is on the gateway network', () => {
    for (const s of Object.values(services)) expect(s.networks).toEqual(['gateway']);
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
    expect(deps).toMatch(/npm ci --omit=dev.*\|\|\s*npm install --omit=dev/);
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

describe('scripts/compose-profiles.ts', () => {
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
    }
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
    expect(filled.filled.sort()).toEqual(['COOKIE_SECRETS', 'REDIS_PASSWORD', 'SIGNING_KEY']);
    const env = dotenv.parse(filled.text);
    const pem = env.SIGNING_KEY ?? '';
    expect(pem).not.toContain('\n');
    const key = createPrivateKey(pem.replaceAll('\\n', '\n'));
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.modulusLength]).toEqual(['rsa', 2048]);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/); // PKCS#8
    expect(env.COOKIE_SECRETS?.length).toBeGreaterThanOrEqual(32);
    expect(env.COOKIE_SECRETS).not.toContain(',');
    expect(env.REDIS_PASSWORD).toMatch(/^[0-9a-f]{64}$/); // safe inside redis://:<password>@
    expect(SECRETS.map((s) => s.generate()).every((v, i, all) => all.indexOf(v) === i)).toBe(true);
  });
});
