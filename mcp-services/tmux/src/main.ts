/** tmux: terminal sessions in tmux, one tmux server per user (see docs/services.md). */
import { pino } from 'pino';
import { listen } from '../../shared/http-service.ts';
import { createTmuxServer, tmuxOptionsFromEnv, type TmuxServiceOptions } from './server.ts';

const log = pino({ name: 'tmux' });
let options: TmuxServiceOptions;
try {
  options = tmuxOptionsFromEnv();
} catch (error) {
  log.fatal((error as Error).message);
  process.exit(1);
}
await listen({ name: 'tmux', stateful: false, create: () => createTmuxServer(options) });
log.info({ maxSessions: options.maxSessions }, 'tmux service listening');
