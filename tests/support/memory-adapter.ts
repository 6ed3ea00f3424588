/**
 * oidc-provider's storage (and quiet) for the stand-ins that are oidc-provider (tests/support/upstream-standin.ts,
 * oidc-standin.ts): every model in memory, where the test can see into it. `onUpsert` hears of every
 * write; `find` may answer for a model first (a client configured at runtime).
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';

export type Models = Map<string, Map<string, AdapterPayload>>;

export function memoryAdapter(
  models: Models,
  hooks: {
    onUpsert?: (model: string, id: string) => void;
    find?: (model: string, id: string) => AdapterPayload | undefined;
  } = {},
): new (name: string) => Adapter {
  const table = (name: string) => models.get(name) ?? models.set(name, new Map()).get(name)!;
  return class MemoryAdapter implements Adapter {
    private readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    async upsert(id: string, payload: AdapterPayload) {
      table(this.name).set(id, payload);
      hooks.onUpsert?.(this.name, id);
    }
    async find(id: string) {
      return hooks.find?.(this.name, id) ?? table(this.name).get(id);
    }
    async findByUid(uid: string) {
      return [...table(this.name).values()].find((p) => p.uid === uid);
    }
    async findByUserCode(code: string) {
      return [...table(this.name).values()].find((p) => p.userCode === code);
    }
    async consume(id: string) {
      const p = table(this.name).get(id);
      if (p) p.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      table(this.name).delete(id);
    }
    async revokeByGrantId(grantId: string) {
      for (const t of models.values()) for (const [id, p] of t) if (p.grantId === grantId) t.delete(id);
    }
  };
}

/**
 * oidc-provider's notes about its development conveniences (development keys, default policies),
 * printed while a Provider is made: the stand-ins use them on purpose, so they are not printed.
 * Returns what puts the console back.
 */
export function quietOidcProviderNotes(): () => void {
  const { warn, info } = console;
  const quiet =
    (print: (...a: unknown[]) => void) =>
    (...args: unknown[]) =>
      String(args[0]).startsWith('oidc-provider ') ? undefined : print(...args);
  console.warn = quiet(warn);
  console.info = quiet(info);
  return () => {
    console.warn = warn;
    console.info = info;
  };
}
