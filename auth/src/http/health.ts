/** GET /health: is the service up and can it reach its storage? Never touches a secret. */
import type { Request, Response } from 'express';
import type { Store } from '../storage/store.ts';

export function healthHandler(store: Store, startedAt = Date.now()) {
  return async function health(_req: Request, res: Response) {
    const storage = await store.ping();
    res
      .status(storage ? 200 : 503)
      .set('cache-control', 'no-store')
      .json({
        status: storage ? 'ok' : 'degraded',
        storage: storage ? 'ok' : 'unreachable',
        uptime: Math.round((Date.now() - startedAt) / 1000),
      });
  };
}
