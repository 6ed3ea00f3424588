/**
 * Admission, decided the same way at login, at every token issuance and at every /verify: the
 * rules (rules.ts) applied to what is known of the person now (Facts). Facts come from the
 * person's last login (accounts) and, for GitHub organisation and team rules, from GitHub itself,
 * read with the person's own GitHub token (kept sealed) and remembered in storage and in this
 * process for at most MEMBERSHIP_CACHE_TTL seconds: someone removed from an organisation loses
 * access within that time, on every replica.
 *
 * When a membership cannot be looked up (GitHub down or rate limiting), the answer is
 * "unavailable": never admitted, and said so (503), not mistaken for a refusal.
 */
import type { GatewayRules, ServiceRules } from '../config/identity.ts';
import type { Logger } from '../log.ts';
import type { Accounts } from '../oidc/accounts.ts';
import { identityTokenKey, membershipsKey } from '../storage/keys.ts';
import type { Json, Store } from '../storage/store.ts';
import { open, seal, type Sealed } from '../upstream/token-vault.ts';
import { FifoMap } from '../verify/fifo-map.ts';
import type { UpstreamUser } from './provider.ts';
import { admitToGateway, admitToService, ADMITTED, groupsHeader, type Facts, type Verdict } from './rules.ts';

/** Who a token or a session names. */
export interface Subject {
  id: string;
  provider: string;
  login: string;
}

/** A membership lookup that could not be done (GitHub unreachable, rate limited): fail closed. */
export class MembershipUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MembershipUnavailable';
  }
}

/** Reads a person's memberships at their provider (GitHub: organisations and teams). */
export interface MembershipSource {
  /**
   * The person's groups, lower-cased; undefined when their token no longer works (they must log in
   * again). Throws MembershipUnavailable when the provider cannot answer now.
   */
  memberships(token: string, login: string): Promise<string[] | undefined>;
}

/** What is known of a person, with its own verdicts, until `expires` (ms). */
interface Known {
  facts: Facts;
  expires: number;
  /** The X-User-Groups value. */
  groupsHeader: string;
  gateway?: Verdict;
  services: Map<string, Verdict>;
}

interface StoredMemberships {
  groups: string[];
  /** Epoch ms of the lookup. */
  at: number;
}

const UNAVAILABLE = (why: string): Verdict => ({ ok: false, unavailable: true, missing: why });

export interface AdmissionOptions {
  rules: GatewayRules;
  serviceRules: ReadonlyMap<string, ServiceRules>;
  /** MEMBERSHIP_CACHE_TTL, seconds. */
  ttl: number;
  accounts: Accounts;
  store: Store;
  logger: Logger;
  /** The local user's login, when there is one. */
  localLogin?: string;
  /** GitHub memberships, when the rules ask about them; with the key that seals GitHub tokens. */
  github?: { source: MembershipSource; sealingKey: Buffer };
  now?: () => number;
}

export class Admission {
  readonly #o: AdmissionOptions;
  readonly #ttlMs: number;
  readonly #known = new FifoMap<string, Known>(50_000);
  /** One lookup in flight per person. */
  readonly #loading = new Map<string, Promise<Known>>();
  readonly #now: () => number;

  constructor(options: AdmissionOptions) {
    this.#o = options;
    this.#ttlMs = options.ttl * 1000;
    this.#now = options.now ?? Date.now;
  }

  /** Do GitHub logins ask for `read:org`? */
  get readsGithubMemberships(): boolean {
    return this.#o.github !== undefined;
  }

  /** May this person use the gateway, and (with `service`) this service, now? Synchronous on a hit. */
  check(subject: Subject, service?: string): Verdict | Promise<Verdict> {
    const known = this.#hit(subject);
    if (known) return this.#verdict(known, service);
    return this.#load(subject).then(
      (k) => this.#verdict(k, service),
      (err: unknown) => {
        if (err instanceof MembershipUnavailable) return UNAVAILABLE(err.message);
        throw err;
      },
    );
  }

  /** X-User-Groups for a person whose verdict was just given (empty when unknown). */
  groupsHeader(id: string): string {
    return this.#known.get(id)?.groupsHeader ?? '';
  }

  /**
   * At login: the facts the provider just gave (for GitHub, with the memberships it just read),
   * decided without any cache. A refused person's kept token is dropped by `forget`.
   */
  atLogin(user: UpstreamUser): Verdict {
    const known = this.#remember(factsOf(user), this.#now() + this.#ttlMs);
    return this.#verdict(known);
  }

  /**
   * Keeps a GitHub user's token, sealed, to look memberships up again later, with the memberships
   * just read with it (github.ts calls this at login).
   */
  async keepGithubToken(id: string, token: string, groups: string[]): Promise<void> {
    const { store, github } = this.#o;
    if (!github) return;
    const where = identityTokenKey(id);
    // As long as an account lives (accounts.ts): the token is only ever used to read memberships.
    await store.set(where, seal(github.sealingKey, where, { token }) as unknown as Json, {
      ttl: this.#o.accounts.ttl,
    });
    await store.set(membershipsKey(id), { groups, at: this.#now() } as unknown as Json, {
      ttl: Math.ceil(this.#ttlMs / 1000),
    });
  }

  /** Drops what is known of a person (a refused login; a new login elsewhere is seen within the TTL). */
  async forget(id: string, options: { stored?: boolean } = {}): Promise<void> {
    this.#known.delete(id);
    if (options.stored) {
      await this.#o.store.delete(identityTokenKey(id));
      await this.#o.store.delete(membershipsKey(id));
    }
  }

  /** What is known of this person, fresh, for the login and provider the token names. */
  #hit(subject: Subject): Known | undefined {
    const known = this.#known.get(subject.id);
    if (!known || known.expires <= this.#now()) return undefined;
    return known.facts.login === subject.login && known.facts.provider === subject.provider ? known : undefined;
  }

  #verdict(known: Known, service?: string): Verdict {
    const gateway = (known.gateway ??= this.#gatewayVerdict(known.facts));
    if (!gateway.ok || service === undefined) return gateway;
    let verdict = known.services.get(service);
    if (!verdict) {
      verdict = admitToService(service, this.#o.serviceRules.get(service), known.facts);
      known.services.set(service, verdict);
    }
    return verdict;
  }

  #gatewayVerdict(facts: Facts): Verdict {
    if (facts.provider === 'local') {
      return this.#o.localLogin !== undefined && facts.login === this.#o.localLogin
        ? ADMITTED
        : { ok: false, missing: 'The local user is only for `npm start` on loopback.' };
    }
    return admitToGateway(this.#o.rules, facts);
  }

  #remember(facts: Facts, expires: number): Known {
    const known: Known = { facts, expires, groupsHeader: groupsHeader(facts.groups), services: new Map() };
    this.#known.set(facts.id, known);
    return known;
  }

  #load(subject: Subject): Promise<Known> {
    let loading = this.#loading.get(subject.id);
    if (!loading) {
      loading = this.#read(subject).finally(() => this.#loading.delete(subject.id));
      this.#loading.set(subject.id, loading);
    }
    return loading;
  }

  /** The account of the last login, and GitHub memberships no older than the TTL. */
  async #read(subject: Subject): Promise<Known> {
    const account = await this.#o.accounts.find(subject.id);
    // Who the token names (provider, login) as it was signed; what the last login said of them.
    const facts: Facts = {
      ...(account ? factsOf(account) : { id: subject.id, emailVerified: false, groups: [] }),
      provider: subject.provider,
      login: subject.login,
    };
    let expires = this.#now() + this.#ttlMs;
    if (facts.provider === 'github' && this.#o.github) {
      const memberships = await this.#githubMemberships(facts);
      facts.groups = memberships.groups;
      expires = Math.min(expires, memberships.at + this.#ttlMs);
    }
    return this.#remember(facts, expires);
  }

  async #githubMemberships(facts: Facts): Promise<StoredMemberships> {
    const { store } = this.#o;
    const stored = (await store.get<Json>(membershipsKey(facts.id))) as unknown as StoredMemberships | undefined;
    const now = this.#now();
    if (stored && Array.isArray(stored.groups) && stored.at + this.#ttlMs > now) return stored;
    const github = this.#o.github!;
    const where = identityTokenKey(facts.id);
    const token = open<{ token: string }>(github.sealingKey, where, (await store.get<Json>(where)) as Partial<Sealed>);
    // No token (never kept, or unreadable): nothing can be confirmed; the person logs in again.
    const groups = token ? await github.source.memberships(token.token, facts.login) : undefined;
    if (!groups) {
      this.#o.logger.info({ user: facts.id }, 'GitHub memberships unknown: the GitHub token is missing or refused');
      return { groups: [], at: now };
    }
    const fresh = { groups, at: now };
    await store.set(membershipsKey(facts.id), fresh as unknown as Json, { ttl: Math.ceil(this.#ttlMs / 1000) });
    return fresh;
  }
}

function factsOf(user: Pick<UpstreamUser, 'id' | 'provider' | 'login' | 'email' | 'emailVerified' | 'groups'>): Facts {
  return {
    id: user.id,
    provider: user.provider,
    login: user.login,
    ...(user.email ? { email: user.email } : {}),
    emailVerified: user.emailVerified === true,
    groups: [...(user.groups ?? [])],
  };
}
