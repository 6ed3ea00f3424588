/**
 * The interaction pipeline, in the order a person meets it:
 *   GET  /interaction/:uid                   login page, or consent (page or remembered)
 *   GET  /interaction/:uid/login/:idp        → upstream provider (GitHub)
 *   GET  /callback/:idp                      ← upstream provider
 *   GET  /interaction/:uid/login/complete    admission, login done
 *   POST /interaction/:uid/login/local       the embedded default's local user
 *   POST /interaction/:uid/consent           allow / deny
 *   GET  /upstream/callback                  ← a remote MCP server's authorization (upstream.ts)
 *   GET  /interaction/:uid/upstream          the next remote server, or the grant and the code
 *   GET  /interaction/:uid/abort             give up (access_denied to the client)
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import {
  abortInteraction,
  completeUpstreamLogin,
  localLogin,
  showLogin,
  startUpstreamLogin,
  upstreamCallback,
} from './login.ts';
import { decideConsent, resumeAfterUpstream, showConsent } from './consent.ts';
import { upstreamCallback as remoteCallback } from './upstream.ts';
import type { InteractionDeps } from './context.ts';
import { InvalidRequestError } from '../errors.ts';

type Step = (deps: InteractionDeps, req: Request, res: Response) => Promise<void>;

async function showInteraction(deps: InteractionDeps, req: Request, res: Response) {
  const details = await deps.provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') return showLogin(deps, req, res);
  if (details.prompt.name === 'consent') return showConsent(deps, req, res, details);
  throw new InvalidRequestError(`unsupported interaction prompt ${details.prompt.name}`);
}

export function interactionRoutes(deps: InteractionDeps): Router {
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 20 });
  const step = (fn: Step) => (req: Request, res: Response, next: NextFunction) => fn(deps, req, res).catch(next);

  router.get('/interaction/:uid', step(showInteraction));
  router.get('/interaction/:uid/login/complete', step(completeUpstreamLogin));
  router.get('/interaction/:uid/abort', step(abortInteraction));
  router.get('/interaction/:uid/login/:idp', step(startUpstreamLogin));
  router.post('/interaction/:uid/login/local', form, step(localLogin));
  router.post('/interaction/:uid/consent', form, step(decideConsent));
  router.get('/callback/:idp', step(upstreamCallback));
  router.get('/interaction/:uid/upstream', step(resumeAfterUpstream));
  router.get('/upstream/callback', step(remoteCallback));
  return router;
}
