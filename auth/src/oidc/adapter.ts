/**
 * oidc-provider's storage adapter, on top of the Store interface. Keys (docs/storage.md):
 *   oidc:<Model>:<id>          the model's payload, ttl = its expiry
 *   oidc:<Model>:<id>:consumed epoch seconds at which a code/refresh token was used
 *   oidc:uid:<uid>             id of the Session with that uid
 *   oidc:user_code:<code>      id of the DeviceCode with that user code
 *   oidc:grant:<grantId>       set of the keys of every token of a grant (for revokeByGrantId)
 *   oidc:client-grants:<clientId> set of the grant ids of a client (to revoke a deleted client)
 * A Grant itself is oidc:Grant:<grantId>; its existence is what /verify checks.
 */
import {
  clientGrantsKey,
  consumedKey,
  grantIndexKey,
  grantKey,
  modelKey,
  sessionUidKey,
  userCodeKey,
} from '../storage/keys.ts';
import type { RevocationFeed } from '../storage/revocation-feed.ts';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Json, Store } from '../storage/store.ts';

export interface AdapterOptions {
  /** CLIENT_LIFETIME: ttl of registered clients and their registration access tokens; 0 = forever. */
  clientLifetime: number;
  /** Where an ended grant is announced, so that every /verify drops its tokens at once. */
  feed: RevocationFeed;
  grantEnded?: GrantEnded;
}

/** Told of a revoked grant: whose it was and for which resources (upstream/upstreams.ts). */
export type GrantEnded = (grant: { accountId: string; resources: string[] }) => Promise<void>;

/** The user and resources of a stored Grant payload, for GrantEnded. */
function endedGrant(payload: Json | undefined): { accountId: string; resources: string[] } | undefined {
  const p = payload as { accountId?: unknown; resources?: unknown } | undefined;
  if (typeof p?.accountId !== 'string') return undefined;
  const resources = p.resources && typeof p.resources === 'object' ? Object.keys(p.resources) : [];
  return { accountId: p.accountId, resources };
}

export function createAdapterClass(store: Store, options: AdapterOptions) {
  /** A grant's record gone, every replica told, the upstream authorizations it held ended. */
  async function endGrant(grantId: string): Promise<void> {
    const key = modelKey('Grant', grantId);
    const ended = options.grantEnded ? endedGrant(await store.get<Json>(key)) : undefined;
    await store.delete(key, consumedKey(key));
    // Every replica's /verify cache hears of it after the grant is gone from storage.
    await options.feed.grantRevoked(grantId);
    if (ended) await options.grantEnded!(ended);
  }

  return class StoreAdapter implements Adapter {
    readonly name: string;

    constructor(name: string) {
      this.name = name;
    }

    private ttlFor(expiresIn: number | undefined): number | undefined {
      if (this.name === 'Client' || this.name === 'RegistrationAccessToken') {
        return options.clientLifetime || undefined;
      }
      return expiresIn;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = modelKey(this.name, id);
      const ttl = this.ttlFor(expiresIn);
      await store.set(key, payload as Json, { ttl });
      const writes: Promise<unknown>[] = [];
      if (payload.grantId) writes.push(store.addToSet(grantIndexKey(payload.grantId), [key], ttl));
      if (this.name === 'Grant' && payload.clientId)
        writes.push(store.addToSet(clientGrantsKey(payload.clientId), [id], ttl));
      if (payload.uid) writes.push(store.set(sessionUidKey(payload.uid), id, { ttl }));
      if (payload.userCode) writes.push(store.set(userCodeKey(payload.userCode), id, { ttl }));
      await Promise.all(writes);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const key = modelKey(this.name, id);
      const [payload, consumed] = await store.getMany<Json>([key, consumedKey(key)]);
      if (!payload || typeof payload !== 'object') return undefined;
      const result = payload as unknown as AdapterPayload;
      return typeof consumed === 'number' ? { ...result, consumed } : result;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = await store.get<string>(sessionUidKey(uid));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = await store.get<string>(userCodeKey(userCode));
      return id ? this.find(id) : undefined;
    }

    async consume(id: string): Promise<void> {
      const key = modelKey(this.name, id);
      const ttl = await store.ttl(key);
      if (ttl === undefined) return;
      // The mark lives exactly as long as the record, so replay detection never outlives it.
      await store.set(consumedKey(key), Math.floor(Date.now() / 1000), { ttl: ttl || undefined });
    }

    async destroy(id: string): Promise<void> {
      const key = modelKey(this.name, id);
      if (this.name === 'RefreshToken') {
        // A refresh token is destroyed only when its grant ends (RFC 7009 revocation, reuse of a
        // rotated one: RFC 9700 §4.14.2), and oidc-provider destroys the token first, the grant
        // next. The grant goes first here: a crash in between leaves a refresh token whose grant
        // is gone (refused), never a grant whose access tokens work on without it.
        const grantId = ((await store.get<Json>(key)) as { grantId?: unknown } | undefined)?.grantId;
        if (typeof grantId === 'string') await endGrant(grantId);
      }
      if (this.name === 'Grant') return endGrant(id);
      await store.delete(key, consumedKey(key));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const index = grantIndexKey(grantId);
      const keys = await store.setMembers(index);
      await store.delete(index, ...keys, ...keys.map(consumedKey));
    }
  };
}

/** Everything a client was ever granted, destroyed: for a deleted or revoked client. */
export async function revokeClientGrants(
  store: Store,
  feed: RevocationFeed,
  clientId: string,
  grantEnded?: GrantEnded,
): Promise<number> {
  const grants = await store.setMembers(clientGrantsKey(clientId));
  for (const grantId of grants) {
    const index = grantIndexKey(grantId);
    const keys = await store.setMembers(index);
    const ended = grantEnded ? endedGrant(await store.get<Json>(grantKey(grantId))) : undefined;
    await store.delete(index, grantKey(grantId), ...keys, ...keys.map(consumedKey));
    await feed.grantRevoked(grantId);
    if (ended) await grantEnded!(ended);
  }
  await store.delete(clientGrantsKey(clientId));
  return grants.length;
}
