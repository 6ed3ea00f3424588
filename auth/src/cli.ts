/**
 * Administration CLI of the auth service, working on the same storage as the running service:
 *   node auth/src/cli.ts keys list       the signing key set
 *   node auth/src/cli.ts keys rotate     a new signing key; the old ones verify until they retire
 * It reads the same `.env` and settings as the service.
 */
import dotenv from 'dotenv';
import { ConfigError, loadConfig } from './config/load.ts';
import { createLogger } from './log.ts';
import { readKeySet, rotateSigningKey } from './oidc/keys.ts';
import { createStore } from './storage/index.ts';

const USAGE = `usage: node auth/src/cli.ts keys list | keys rotate\n`;

export async function run(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  const [area, action] = argv;
  if (area !== 'keys' || (action !== 'list' && action !== 'rotate')) {
    out(USAGE);
    return 64; // EX_USAGE
  }
  const config = loadConfig(env);
  if (!config.redis) {
    out('REDIS_URL is not set: the running gateway keeps its keys in its own memory, out of reach of this command.\n');
    return 69; // EX_UNAVAILABLE
  }
  const store = createStore({ redis: config.redis }, createLogger('warn'));
  try {
    if (action === 'rotate') {
      if (config.signingKeyPem) {
        out(
          'SIGNING_KEY is set: rotate by replacing it in .env (the previous key keeps verifying until it retires) and restarting.\n',
        );
        return 64;
      }
      await rotateSigningKey(store, config.accessTokenLifetime);
      out(
        'A new signing key is current. Restart every auth replica to sign with it; tokens signed before keep verifying until they expire.\n',
      );
    }
    for (const key of await readKeySet(store)) {
      const state = key.retiresAt ? `retires ${new Date(key.retiresAt * 1000).toISOString()}` : 'signing';
      out(`${key.kid}  created ${new Date(key.createdAt * 1000).toISOString()}  ${state}\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}

if (import.meta.url === new URL(process.argv[1] ?? '', 'file://').href) {
  dotenv.config({ quiet: true });
  run(process.argv.slice(2), process.env, (s) => process.stdout.write(s))
    .then((code) => process.exit(code))
    .catch((err: unknown) => {
      process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `${String(err)}\n`);
      process.exit(1);
    });
}
