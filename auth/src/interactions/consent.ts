/**
 * The consent step. A client is shown to the person once per (user, client) and what it asks
 * for; a remembered decision that covers the request is applied without a page.
 */
import type { Request, Response } from 'express';
import type { InteractionResults } from 'oidc-provider';
import { renderConsent } from '../pages/consent.ts';
import type { ConsentRequest } from '../oidc/consents.ts';
import { covers } from '../oidc/consents.ts';
import { InvalidRequestError } from '../errors.ts';
import { allowedBeforeUpstream, forgetAllowed, upstreamStep } from './upstream.ts';
import { checkCsrf, clientLabel, csrfToken, requestedServices, sendPage, type InteractionDeps } from './context.ts';
import { refusedService } from './service-rules.ts';

type Details = Awaited<ReturnType<InteractionDeps['provider']['interactionDetails']>>;

/** What the consent prompt says is missing from the grant (oidc-provider's prompt details). */
function wanted(details: Details): ConsentRequest {
  const d = details.prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  return {
    scopes: d.missingOIDCScope ?? [],
    claims: d.missingOIDCClaims ?? [],
    resources: d.missingResourceScopes ?? {},
  };
}

async function grantAndFinish(
  deps: InteractionDeps,
  req: Request,
  res: Response,
  details: Details,
  allowed: ConsentRequest,
) {
  const { provider } = deps;
  const accountId = details.session!.accountId;
  const clientId = String(details.params.client_id);
  // The two-screen flow: remote servers the person must authorize first (interactions/upstream.ts).
  if (await upstreamStep(deps, res, details.uid, accountId, details.params.resource, allowed)) return;
  await forgetAllowed(deps, details.uid);
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId });
  if (!grant) throw new InvalidRequestError('the authorization expired; start again from your application');
  if (allowed.scopes.length) grant.addOIDCScope(allowed.scopes.join(' '));
  if (allowed.claims.length) grant.addOIDCClaims(allowed.claims);
  for (const [resource, scopes] of Object.entries(allowed.resources))
    grant.addResourceScope(resource, scopes.join(' '));
  const grantId = await grant.save();
  await deps.consents.remember(accountId, clientId, allowed);
  const result: InteractionResults = { consent: { grantId } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

/** Did the client ask for the consent page whatever was decided before (`prompt=consent`)? */
function consentPrompted(details: Details): boolean {
  return String(details.params.prompt ?? '')
    .split(' ')
    .includes('consent');
}

/**
 * What the page lists: what the grant lacks, or, when the client asked for consent again and the
 * grant lacks nothing, everything the request asks for.
 */
function shown(details: Details, request: ConsentRequest): string[] {
  const missing = [...request.scopes, ...Object.values(request.resources).flat()];
  const asked = missing.length ? missing : String(details.params.scope ?? '').split(' ');
  return [...new Set(asked)].filter((s) => s && s !== 'openid' && s !== 'offline_access');
}

/** GET /interaction/:uid with the consent prompt: a remembered decision, or the page. */
export async function showConsent(deps: InteractionDeps, req: Request, res: Response, details: Details) {
  const accountId = details.session!.accountId;
  const clientId = String(details.params.client_id);
  const request = wanted(details);
  if (await refusedService(deps, req, res, details)) return;
  // OpenID Connect Core 1.0 §3.1.2.1: with prompt=consent the authorization server prompts the
  // end-user for consent before returning information to the client: a remembered decision is not one.
  if (!consentPrompted(details) && covers(await deps.consents.find(accountId, clientId), request)) {
    deps.logger.info({ user: accountId, client: clientId }, 'consent remembered');
    await grantAndFinish(deps, req, res, details, request);
    return;
  }
  const [client, account] = await Promise.all([deps.provider.Client.find(clientId), deps.accounts.find(accountId)]);
  const redirect = URL.parse(String(details.params.redirect_uri));
  sendPage(
    res,
    200,
    renderConsent({
      clientName: clientLabel(client),
      clientId,
      redirectHost: redirect?.host || redirect?.protocol.replace(/:$/, '') || '',
      redirectScheme: redirect?.protocol.replace(/:$/, '') ?? '',
      serviceNames: requestedServices(deps, details.params.resource),
      scopes: shown(details, request),
      user: { login: account?.login ?? accountId, provider: account?.provider ?? '', name: account?.name },
      action: `/interaction/${details.uid}/consent`,
      csrf: csrfToken(deps, details.uid, 'consent'),
      unverifiedName: true,
    }),
  );
}

/** POST /interaction/:uid/consent — the person's decision. */
export async function decideConsent(deps: InteractionDeps, req: Request, res: Response) {
  const details = await deps.provider.interactionDetails(req, res);
  if (details.prompt.name !== 'consent' || !details.session) {
    throw new InvalidRequestError('nothing is waiting for consent here');
  }
  checkCsrf(deps, req, details.uid, 'consent');
  const decision = (req.body as Record<string, unknown>).decision;
  const clientId = String(details.params.client_id);
  if (decision !== 'allow') {
    deps.logger.info({ user: details.session.accountId, client: clientId }, 'consent denied');
    await deps.provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'the user denied access' },
      { mergeWithLastSubmission: true },
    );
    return;
  }
  if (await refusedService(deps, req, res, details)) return;
  deps.logger.info({ user: details.session.accountId, client: clientId }, 'consent given');
  await grantAndFinish(deps, req, res, details, wanted(details));
}

/** GET /interaction/:uid/upstream — back from a remote server's authorization: the next one, or done. */
export async function resumeAfterUpstream(deps: InteractionDeps, req: Request, res: Response) {
  const details = await deps.provider.interactionDetails(req, res);
  const allowed = await allowedBeforeUpstream(deps, details.uid);
  if (details.prompt.name !== 'consent' || !details.session || !allowed) {
    throw new InvalidRequestError('nothing is waiting for this authorization; start again from your application');
  }
  if (await refusedService(deps, req, res, details)) return;
  await grantAndFinish(deps, req, res, details, allowed);
}
