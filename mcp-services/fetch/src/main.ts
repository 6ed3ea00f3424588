/** fetch: fetches public web pages for the caller, as Markdown (see docs/services.md). */
import { pino } from 'pino';
import { listen } from '../../shared/http-service.ts';
import { createFetchServer, fetchOptionsFromEnv, type FetchServiceOptions } from './server.ts';

const log = pino({ name: 'fetch' });
let options: FetchServiceOptions;
try {
  options = fetchOptionsFromEnv();
} catch (error) {
  log.fatal((error as Error).message);
  process.exit(1);
}
if (options.allowPrivate) {
  log.warn(
    'MCP_FETCH_ALLOW_PRIVATE=true: DANGEROUS. The fetch tool will connect to loopback, private and link-local ' +
      'addresses (this host, internal services, cloud metadata). Use only on an isolated development machine.',
  );
}
await listen({ name: 'fetch', stateful: false, create: () => createFetchServer(options) });
const { maxBytes, timeoutMs, allowAddresses } = options;
log.info({ maxBytes, timeoutMs, allowAddresses: allowAddresses?.rules }, 'fetch service listening');
