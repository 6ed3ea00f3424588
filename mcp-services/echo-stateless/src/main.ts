/** echo-stateless: echo tools over Streamable HTTP without sessions. */
import { createEchoServer } from '../../shared/echo.ts';
import { listen } from '../../shared/http-service.ts';

await listen({
  name: 'echo-stateless',
  stateful: false,
  create: () => createEchoServer('echo-stateless', { stateful: false }),
});
