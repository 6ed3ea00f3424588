/**
 * The embedded default's single local user: used when no identity provider is configured and the
 * gateway listens on loopback only (config refuses it otherwise). The password is generated at
 * startup and printed once; it lives only in this process, and so do the attempt counters.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UpstreamUser } from './provider.ts';

/**
 * Lower-case letters and digits without the look-alikes 0/o and 1/l: exactly 32 symbols, so a
 * random byte maps onto it without bias (256 = 8 × 32).
 */
export const PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
/** 20 symbols × 5 bits = 100 bits, shown in groups of five: `k7dwq-...`. */
const GROUPS = 4;
const GROUP_LENGTH = 5;

/** 5 failures within 10 minutes lock the password for 5 minutes. */
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 10 * 60_000;
const LOCKOUT_MS = 5 * 60_000;

export function generatePassword(): string {
  const bytes = randomBytes(GROUPS * GROUP_LENGTH);
  const symbols = [...bytes].map((b) => PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]!);
  const groups: string[] = [];
  for (let i = 0; i < symbols.length; i += GROUP_LENGTH) groups.push(symbols.slice(i, i + GROUP_LENGTH).join(''));
  return groups.join('-');
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class LocalUser {
  readonly login = 'local';
  /** Printed once at startup; never logged otherwise. */
  readonly password: string;
  readonly #hash: Buffer;
  readonly #now: () => number;
  #failures: number[] = [];
  #lockedUntil = 0;

  /** `password` and `now` are for tests; production generates the password. */
  constructor(options: { password?: string; now?: () => number } = {}) {
    this.password = options.password ?? generatePassword();
    this.#hash = sha256(this.password);
    this.#now = options.now ?? Date.now;
  }

  /** The user when the password is right and the login is not locked; undefined otherwise. */
  verify(password: string): UpstreamUser | undefined {
    const now = this.#now();
    if (this.isLocked()) return undefined;
    // Hashing first gives both sides the same length, which timingSafeEqual requires, and hides
    // the password's length from the timing.
    if (timingSafeEqual(sha256(password), this.#hash)) {
      this.#failures = [];
      return { id: `local:${this.login}`, login: this.login, name: 'Local user', provider: 'local' };
    }
    this.#failures = this.#failures.filter((t) => now - t < FAILURE_WINDOW_MS);
    this.#failures.push(now);
    if (this.#failures.length >= MAX_FAILURES) {
      this.#lockedUntil = now + LOCKOUT_MS;
      this.#failures = [];
    }
    return undefined;
  }

  /** Too many wrong passwords lately: every attempt is refused until the cooldown ends. */
  isLocked(): boolean {
    return this.#now() < this.#lockedUntil;
  }
}
