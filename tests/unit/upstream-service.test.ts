/**
 * UpstreamService (auth/src/upstream/upstreams.ts) on the machine-token path, with the token
 * endpoint played by a fetch: after the upstream answered 401, a new token is asked for once; when
 * none can be had, there is no retry (never one with an empty token).
 */
import { loadConfig } from '../../auth/src/config/load.ts';
import { createLogger } from '../../auth/src/log.ts';
import { MemoryStore } from '../../auth/src/storage/memory.ts';
import { Upstreams } from '../../auth/src/upstream/upstreams.ts';

function machine(answers: (() => Response)[]) {
  const config = loadConfig({
    MCP_API_ENABLED: 'true',
    MCP_API_URL: 'https://api.example.com/mcp',
    MCP_API_AUTH: 'client_credentials',
    MCP_API_CLIENT_ID: 'machine',
    MCP_API_CLIENT_SECRET: 'secret',
    MCP_API_TOKEN_URL: 'https://as.example.com/token',
  });
  let calls = 0;
  const fetch = (async () => answers[Math.min(calls++, answers.length - 1)]!()) as typeof globalThis.fetch;
  const upstreams = new Upstreams(config.services, {
    store: new MemoryStore(),
    publicUrl: config.publicUrl,
    sealingKey: Buffer.alloc(32, 1),
    logger: createLogger('silent'),
    fetch,
  });
  return { service: upstreams.get('api')!, calls: () => calls };
}

const token = (value: string) => () => Response.json({ access_token: value, token_type: 'Bearer', expires_in: 3600 });
const refused = () => Response.json({ error: 'invalid_client' }, { status: 401 });

test('a 401 from the upstream: one new machine token, which the retry carries', async () => {
  const { service } = machine([token('first'), token('second')]);
  expect(await service.authorization('github:1')).toBe('Bearer first');
  expect(await service.rejected('github:1', 401)).toBe('Bearer second');
});

test('a 401 and no new token to be had: no retry', async () => {
  const { service, calls } = machine([token('first'), refused]);
  expect(await service.authorization('github:1')).toBe('Bearer first');
  expect(await service.rejected('github:1', 401)).toBeUndefined();
  expect(calls()).toBe(2);
});
