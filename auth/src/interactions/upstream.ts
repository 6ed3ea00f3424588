/**
 * The upstream step of the two-screen flow (design: "Flow for user"): after the person allowed a
 * client at the gateway, and before the code goes back to that client, each requested service
 * that is a remote MCP server with `MCP_<S>_AUTH=user`, and for which the person holds no
 * upstream tokens, sends the browser to its own authorization server; `GET /upstream/callback`
 * comes back, and `GET /interaction/:uid/upstream` goes on (the interaction's cookie is scoped
 * to /interaction/:uid, so the callback cannot finish it itself).
 *   upstreamStep()       consent.ts, before the grant is saved: redirect, or go on
 *   resumeAfterUpstream  GET /interaction/:uid/upstream
 *   upstreamCallback     GET /upstream/callback
 * A refusal at the upstream is a page naming the server and the reason, with a way back to the
 * application (access_denied); nothing is stored and the gateway's grant is not issued.
 */
import type { Request, Response } from 'express';
import type { ConsentRequest } from '../oidc/consents.ts';
import { renderError } from '../pages/error.ts';
import { upstreamConsentKey } from '../storage/keys.ts';
import type { Json } from '../storage/store.ts';
import {
  UpstreamAuthorizationError,
  UpstreamDiscoveryError,
  UpstreamRegistrationError,
} from '../upstream/upstreams.ts';
import { InvalidRequestError } from '../errors.ts';
import { requestedServices, sendPage, type InteractionDeps } from './context.ts';

/** As long as an upstream authorization may take (the state's own lifetime, user-tokens.ts). */
const CONSENT_TTL_S = 600;

/**
 * The first requested service whose upstream the person has not authorized: the browser goes
 * there (true), the decision kept for the way back. False: nothing is missing, go on.
 */
export async function upstreamStep(
  deps: InteractionDeps,
  res: Response,
  uid: string,
  accountId: string,
  resource: unknown,
  allowed: ConsentRequest,
): Promise<boolean> {
  const { upstreams } = deps;
  if (!upstreams?.size) return false;
  for (const name of requestedServices(deps, resource)) {
    const service = upstreams.get(name);
    if (!service || (await service.authorized(accountId))) continue;
    let url: string;
    try {
      url = await service.begin(accountId, `/interaction/${uid}/upstream`);
    } catch (err) {
      deps.logger.warn(
        { service: name, err: { message: (err as Error).message } },
        'upstream authorization cannot start',
      );
      sendPage(
        res,
        502,
        renderError({
          title: `${name} cannot be reached`,
          message: `The gateway could not start the authorization at ${name}'s own server: ${reasonOf(err)}`,
          detail: 'Your access at the gateway was not changed. Try again later, or tell whoever runs this gateway.',
          backHref: `/interaction/${uid}/abort`,
        }),
      );
      return true;
    }
    await deps.store.set(upstreamConsentKey(uid), allowed as unknown as Json, { ttl: CONSENT_TTL_S });
    deps.logger.info({ user: accountId, service: name }, 'upstream authorization started');
    res.redirect(303, url);
    return true;
  }
  return false;
}

/** What the consent step had decided before the browser went to the upstream, or undefined. */
export async function allowedBeforeUpstream(deps: InteractionDeps, uid: string): Promise<ConsentRequest | undefined> {
  return (await deps.store.get<Json>(upstreamConsentKey(uid))) as ConsentRequest | undefined;
}

export async function forgetAllowed(deps: InteractionDeps, uid: string): Promise<void> {
  await deps.store.delete(upstreamConsentKey(uid));
}

function reasonOf(err: unknown): string {
  if (
    err instanceof UpstreamAuthorizationError ||
    err instanceof UpstreamDiscoveryError ||
    err instanceof UpstreamRegistrationError
  ) {
    return err.message;
  }
  return 'an unexpected error';
}

const TITLES: Record<UpstreamAuthorizationError['reason'], string> = {
  state: 'This authorization has expired',
  issuer: 'The answer did not come from the expected server',
  denied: 'The authorization was refused',
  refused: 'The server refused the gateway',
  unreachable: 'The server cannot be reached',
  malformed: 'The server answered something unexpected',
};

/** GET /upstream/callback: the upstream's answer; on to the interaction, or a page saying why not. */
export async function upstreamCallback(deps: InteractionDeps, req: Request, res: Response) {
  const { upstreams } = deps;
  if (!upstreams?.size) throw new InvalidRequestError('no remote MCP server is configured');
  const query = new URLSearchParams(req.url.slice(req.url.indexOf('?') + 1 || req.url.length));
  const pending = await upstreams.pending(query.get('state') ?? '');
  try {
    const done = await upstreams.complete(query);
    deps.logger.info({ user: done.userId, service: done.service }, 'upstream authorization completed');
    res.redirect(303, done.resume);
  } catch (caught) {
    const err =
      caught instanceof UpstreamDiscoveryError || caught instanceof UpstreamRegistrationError
        ? new UpstreamAuthorizationError('unreachable', caught.message)
        : caught;
    if (!(err instanceof UpstreamAuthorizationError)) throw err;
    deps.logger.info(
      { service: pending?.service, reason: err.reason, error: err.oauthError },
      'upstream authorization refused',
    );
    const uid = /^\/interaction\/([^/]+)\/upstream$/.exec(pending?.resume ?? '')?.[1];
    sendPage(
      res,
      err.reason === 'unreachable' ? 502 : 400,
      renderError({
        title: pending ? `${pending.service}: ${TITLES[err.reason].toLowerCase()}` : TITLES[err.reason],
        message: err.message,
        detail: pending
          ? `Nothing was stored and the application was not given access to ${pending.service}.`
          : 'Start again from your application.',
        ...(uid ? { backHref: `/interaction/${uid}/abort` } : {}),
      }),
    );
  }
}
