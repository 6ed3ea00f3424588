/**
 * What the interaction steps (login, upstream callback, consent) share, and the small helpers
 * every step uses: page responses, CSRF tokens bound to the interaction, same-origin checks.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type Provider from 'oidc-provider';
import type { Config } from '../config/load.ts';
import type { Identities } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { Accounts } from '../oidc/accounts.ts';
import type { Consents } from '../oidc/consents.ts';
import type { ServiceRegistry } from '../oidc/services.ts';
import { PAGE_HEADERS } from '../pages/layout.ts';
import type { Store } from '../storage/store.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { AccessDeniedError } from '../errors.ts';

export interface InteractionDeps {
  provider: Provider;
  config: Config;
  registry: ServiceRegistry;
  identities: Identities;
  accounts: Accounts;
  consents: Consents;
  store: Store;
  logger: Logger;
  cookieSecrets: string[];
  /** Remote MCP servers with an authorization of their own (the two-screen flow). */
  upstreams?: Upstreams;
}

export function sendPage(res: Response, status: number, body: string): void {
  res.status(status).set(PAGE_HEADERS).send(body);
}

/** A CSRF token bound to one interaction: HMAC(cookie secret, purpose + uid). */
export function csrfToken(deps: InteractionDeps, uid: string, purpose: string): string {
  return createHmac('sha256', deps.cookieSecrets[0]!).update(`${purpose}:${uid}`).digest('base64url');
}

export function checkCsrf(deps: InteractionDeps, req: Request, uid: string, purpose: string): void {
  const given = Buffer.from(String((req.body as Record<string, unknown> | undefined)?.csrf ?? ''));
  const expected = Buffer.from(csrfToken(deps, uid, purpose));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AccessDeniedError('the form is stale or was not sent by this site; go back and try again');
  }
  // A browser says where a form came from; a cross-site POST is never ours.
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  // Our pages send `Referrer-Policy: no-referrer`, so a browser serialises the Origin of their
  // own form POSTs as "null" (Fetch §3.2.5, "serializing a request origin"). "null" is
  // accepted only when the browser also says the request is same-origin.
  const originOk = !origin || origin === deps.config.publicUrl || (origin === 'null' && site === 'same-origin');
  if ((site && site !== 'same-origin' && site !== 'none') || !originOk) {
    throw new AccessDeniedError('cross-site form submission refused');
  }
}

export function clientLabel(client: { clientName?: string; clientId: string } | undefined): string {
  return client?.clientName?.trim() || client?.clientId || 'An application';
}

/** Service names for the resources an authorization request asked for. */
export function requestedServices(deps: InteractionDeps, resource: unknown): string[] {
  const list = Array.isArray(resource) ? resource : resource ? [resource] : [];
  const names = list.map((r) => deps.registry.byResource(String(r))?.name).filter((n): n is string => !!n);
  if (names.length) return names;
  const only = deps.registry.onlyService;
  return only ? [only.name] : [];
}
