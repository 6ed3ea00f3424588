/**
 * The login steps: the login page, the hop to an upstream provider and back, the local user's
 * password form, and giving up. The upstream callback URL is fixed (`/callback/<provider>`, as
 * registered at GitHub), but the interaction cookie only reaches `/interaction/<uid>`: so the
 * callback parks its result under a random id and sends the browser back to the interaction,
 * where the cookie proves it is the same browser that started.
 */
import { upstreamResultKey, upstreamStateKey } from '../storage/keys.ts';
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { UpstreamUser } from '../identity/provider.ts';
import { UpstreamError } from '../identity/provider.ts';
import { renderError } from '../pages/error.ts';
import { renderLogin } from '../pages/login.ts';
import type { Json } from '../storage/store.ts';
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import { checkCsrf, clientLabel, csrfToken, requestedServices, sendPage, type InteractionDeps } from './context.ts';

const STATE_TTL = 600;

interface UpstreamState {
  uid: string;
  idp: string;
  codeVerifier: string;
  /** OpenID Connect Core §3.1.2.1: single-use, as the state it is parked under. */
  nonce: string;
}
type UpstreamResult = { uid: string; user: UpstreamUser } | { uid: string; error: string; description: string };

const uidParam = (req: Request) => String(req.params.uid);

export async function showLogin(deps: InteractionDeps, req: Request, res: Response, localError?: string) {
  const details = await deps.provider.interactionDetails(req, res);
  const client = await deps.provider.Client.find(String(details.params.client_id));
  const local = deps.identities.local;
  sendPage(
    res,
    localError ? 401 : 200,
    renderLogin({
      clientName: clientLabel(client),
      serviceNames: requestedServices(deps, details.params.resource),
      providers: [...deps.identities.upstream.values()].map((p) => ({
        id: p.id,
        displayName: p.displayName,
        href: `/interaction/${details.uid}/login/${p.id}`,
        unavailable: p.unavailable?.(),
      })),
      local: local && {
        action: `/interaction/${details.uid}/login/local`,
        csrf: csrfToken(deps, details.uid, 'login'),
        login: local.login,
        error: localError,
        locked: local.isLocked(),
      },
    }),
  );
}

/** GET /interaction/:uid/login/:idp — off to the upstream provider. */
export async function startUpstreamLogin(deps: InteractionDeps, req: Request, res: Response) {
  const details = await deps.provider.interactionDetails(req, res);
  const idp = deps.identities.upstream.get(String(req.params.idp));
  if (!idp || details.prompt.name !== 'login') throw new NotFoundError('no such login method');
  const state = randomBytes(32).toString('base64url');
  // RFC 7636 towards the upstream too: the code it returns is useless without this.
  const codeVerifier = randomBytes(32).toString('base64url');
  const nonce = randomBytes(32).toString('base64url');
  let location: string;
  try {
    location = await idp.authorizationUrl({ state, codeVerifier, nonce, redirectUri: callbackUrl(deps, idp.id) });
  } catch (err) {
    if (!(err instanceof UpstreamError)) throw err;
    deps.logger.info({ idp: idp.id, reason: err.detail ?? err.message }, 'upstream login unavailable');
    sendPage(
      res,
      err.status,
      renderError({ title: 'Sign-in unavailable', message: err.message, retryHref: `/interaction/${details.uid}` }),
    );
    return;
  }
  const parked: UpstreamState = { uid: details.uid, idp: idp.id, codeVerifier, nonce };
  await deps.store.set(upstreamStateKey(state), parked as unknown as Json, { ttl: STATE_TTL });
  res.redirect(303, location);
}

export const callbackUrl = (deps: InteractionDeps, idp: string) => `${deps.config.publicUrl}/callback/${idp}`;

/** GET /callback/:idp — the upstream provider sends the browser back here. */
export async function upstreamCallback(deps: InteractionDeps, req: Request, res: Response) {
  const state = typeof req.query.state === 'string' ? req.query.state : '';
  const parked = state
    ? ((await deps.store.take<Json>(upstreamStateKey(state))) as unknown as UpstreamState | undefined)
    : undefined;
  if (!parked || parked.idp !== req.params.idp) {
    sendPage(
      res,
      400,
      renderError({
        title: 'This sign-in link has expired',
        message: 'The sign-in took too long or this page was opened twice. Start again from your application.',
      }),
    );
    return;
  }
  const idp = deps.identities.upstream.get(parked.idp)!;
  let result: UpstreamResult;
  if (typeof req.query.error === 'string') {
    // RFC 6749 §4.1.2.1 from the upstream: the person declined there.
    const description = typeof req.query.error_description === 'string' ? req.query.error_description : req.query.error;
    result = { uid: parked.uid, error: 'access_denied', description: `${idp.displayName}: ${description}` };
  } else {
    try {
      const user = await idp.complete({
        code: typeof req.query.code === 'string' ? req.query.code : '',
        codeVerifier: parked.codeVerifier,
        nonce: parked.nonce,
        redirectUri: callbackUrl(deps, idp.id),
      });
      result = { uid: parked.uid, user };
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      deps.logger.info({ idp: idp.id, reason: err.detail ?? err.message }, 'upstream login failed');
      sendPage(
        res,
        err.status,
        renderError({ title: 'Sign-in failed', message: err.message, retryHref: `/interaction/${parked.uid}` }),
      );
      return;
    }
  }
  const id = randomBytes(24).toString('base64url');
  await deps.store.set(upstreamResultKey(id), result as unknown as Json, { ttl: STATE_TTL });
  res.redirect(303, `/interaction/${parked.uid}/login/complete?r=${id}`);
}

/** Admission, then the login is handed to oidc-provider. */
async function finishLogin(deps: InteractionDeps, req: Request, res: Response, user: UpstreamUser, uid: string) {
  const details = await deps.provider.interactionDetails(req, res);
  const verdict = deps.identities.admission.atLogin(user);
  if (!verdict.ok) {
    deps.logger.info(
      { user: user.id, login: user.login, client: details.params.client_id },
      'login refused: user not allowed',
    );
    await deps.identities.admission.forget(user.id, { stored: true });
    sendPage(
      res,
      403,
      renderError({
        title: 'Access not allowed',
        message: `The account ${user.login} is not allowed to use this gateway.`,
        detail: `${verdict.missing} Ask the operator for access.`,
        backHref: `/interaction/${uid}/abort`,
      }),
    );
    return;
  }
  await deps.accounts.save(user);
  deps.logger.info({ user: user.id, login: user.login, client: details.params.client_id }, 'login');
  await deps.provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.id } },
    { mergeWithLastSubmission: false },
  );
}

/** GET /interaction/:uid/login/complete?r= — back from the callback, with this browser's cookie. */
export async function completeUpstreamLogin(deps: InteractionDeps, req: Request, res: Response) {
  const uid = uidParam(req);
  const id = typeof req.query.r === 'string' ? req.query.r : '';
  const result = id
    ? ((await deps.store.take<Json>(upstreamResultKey(id))) as unknown as UpstreamResult | undefined)
    : undefined;
  if (!result || result.uid !== uid)
    throw new InvalidRequestError('this sign-in result is unknown or was already used');
  if ('error' in result) {
    await deps.provider.interactionFinished(
      req,
      res,
      { error: result.error, error_description: result.description },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  await finishLogin(deps, req, res, result.user, uid);
}

/** POST /interaction/:uid/login/local — the embedded default's one local user. */
export async function localLogin(deps: InteractionDeps, req: Request, res: Response) {
  const uid = uidParam(req);
  const local = deps.identities.local;
  if (!local) throw new NotFoundError('no such login method');
  checkCsrf(deps, req, uid, 'login');
  const password = String((req.body as Record<string, unknown>).password ?? '');
  const user = local.verify(password);
  if (!user) {
    deps.logger.info({ login: local.login }, 'local login refused: wrong password');
    await showLogin(deps, req, res, local.isLocked() ? 'Too many attempts. Wait a few minutes.' : 'Wrong password.');
    return;
  }
  await finishLogin(deps, req, res, user, uid);
}

/** GET /interaction/:uid/abort — the person gives up; the client gets access_denied. */
export async function abortInteraction(deps: InteractionDeps, req: Request, res: Response) {
  await deps.provider.interactionFinished(
    req,
    res,
    { error: 'access_denied', error_description: 'the user did not sign in' },
    { mergeWithLastSubmission: false },
  );
}
