/** echo-stateful: echo tools over Streamable HTTP with sessions (per-session call counter). */
import { createEchoServer } from '../../shared/echo.ts';
import { listen } from '../../shared/http-service.ts';

await listen({
  name: 'echo-stateful',
  stateful: true,
  create: () => createEchoServer('echo-stateful', { stateful: true }),
});
