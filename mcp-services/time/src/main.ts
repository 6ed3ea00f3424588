/** time: current time and time zone conversion, native (see docs/services.md). */
import { pino } from 'pino';
import { listen } from '../../shared/http-service.ts';
import { createTimeServer, localTimeZoneFromEnv } from './time.ts';

const log = pino({ name: 'time' });
let localTimeZone: string;
try {
  localTimeZone = localTimeZoneFromEnv();
} catch (error) {
  log.fatal((error as Error).message);
  process.exit(1);
}
await listen({ name: 'time', stateful: false, create: () => createTimeServer({ localTimeZone }) });
log.info({ localTimeZone }, 'time service listening');
