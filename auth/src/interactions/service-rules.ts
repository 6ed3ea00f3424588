/**
 * The per-service rules at authorization (design: "Identity providers and who may use what"): a
 * person admitted to the gateway but not to a service asked for sees which rule is missing, and
 * the client gets `access_denied` (RFC 6749 §4.1.2.1) when they return to it. Checked before the
 * consent page and again before any grant is made, so that no decision skips it.
 */
import type { Request, Response } from 'express';
import { renderError } from '../pages/error.ts';
import { requestedServices, sendPage, type InteractionDeps } from './context.ts';

type Details = Awaited<ReturnType<InteractionDeps['provider']['interactionDetails']>>;

/** True when a page was sent (a service is refused, or its rules cannot be checked now). */
export async function refusedService(
  deps: InteractionDeps,
  _req: Request,
  res: Response,
  details: Details,
): Promise<boolean> {
  const accountId = details.session!.accountId;
  const account = await deps.accounts.find(accountId);
  const subject = { id: accountId, provider: account?.provider ?? '', login: account?.login ?? '' };
  for (const service of requestedServices(deps, details.params.resource)) {
    const verdict = await deps.identities.admission.check(subject, service);
    if (verdict.ok) continue;
    deps.logger.info(
      { user: accountId, service, client: details.params.client_id, unavailable: verdict.unavailable === true },
      'authorization refused: service rules',
    );
    if (verdict.unavailable) {
      sendPage(
        res,
        503,
        renderError({
          title: 'Access cannot be checked right now',
          message: `Whether you may use ${service} cannot be confirmed right now: ${verdict.missing}`,
          retryHref: `/interaction/${details.uid}`,
          backHref: `/interaction/${details.uid}/abort`,
        }),
      );
    } else {
      sendPage(
        res,
        403,
        renderError({
          title: 'Access not allowed',
          message: `The account ${account?.login ?? accountId} may not use ${service}.`,
          detail: `${verdict.missing} Ask the operator for access.`,
          backHref: `/interaction/${details.uid}/abort`,
        }),
      );
    }
    return true;
  }
  return false;
}
