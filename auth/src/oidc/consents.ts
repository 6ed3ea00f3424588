/**
 * Remembered consent per (user, client), as the MCP security best practices ask of a gateway
 * that serves dynamically registered clients: the consent page is shown the first time a client
 * asks a user for a service (or for more than was allowed), and not again until the record
 * expires (REFRESH_TOKEN_LIFETIME) or the client is revoked.
 * Key: consent:<accountId>:<clientId>.
 */
import { consentKey } from '../storage/keys.ts';
import type { Json, Store } from '../storage/store.ts';

export interface ConsentRecord {
  /** OIDC scopes allowed (openid, profile, email, offline_access). */
  scopes: string[];
  /** OIDC claims allowed. */
  claims: string[];
  /** Resource identifier → scopes allowed for it. */
  resources: Record<string, string[]>;
  /** Epoch seconds of the last decision. */
  at: number;
}

export interface ConsentRequest {
  scopes: string[];
  claims: string[];
  resources: Record<string, string[]>;
}

export function covers(record: ConsentRecord | undefined, wanted: ConsentRequest): boolean {
  if (!record) return false;
  const has = (list: string[], items: string[]) => items.every((i) => list.includes(i));
  return (
    has(record.scopes, wanted.scopes) &&
    has(record.claims, wanted.claims) &&
    Object.entries(wanted.resources).every(([r, s]) => has(record.resources[r] ?? [], s))
  );
}

export class Consents {
  private readonly store: Store;
  private readonly ttl: number;

  constructor(store: Store, ttl: number) {
    this.store = store;
    this.ttl = ttl;
  }

  async find(accountId: string, clientId: string): Promise<ConsentRecord | undefined> {
    return (await this.store.get<Json>(consentKey(accountId, clientId))) as unknown as ConsentRecord | undefined;
  }

  /** Adds what was just allowed to what was allowed before. */
  async remember(accountId: string, clientId: string, allowed: ConsentRequest): Promise<void> {
    const previous = await this.find(accountId, clientId);
    const union = (a: string[] = [], b: string[] = []) => [...new Set([...a, ...b])];
    const resources: Record<string, string[]> = { ...previous?.resources };
    for (const [r, s] of Object.entries(allowed.resources)) resources[r] = union(resources[r], s);
    const record: ConsentRecord = {
      scopes: union(previous?.scopes, allowed.scopes),
      claims: union(previous?.claims, allowed.claims),
      resources,
      at: Math.floor(Date.now() / 1000),
    };
    await this.store.set(consentKey(accountId, clientId), record as unknown as Json, { ttl: this.ttl });
  }

  async forget(accountId: string, clientId: string): Promise<void> {
    await this.store.delete(consentKey(accountId, clientId));
  }
}
