/**
 * ALLOWED_GITHUB_USERS: who may log in. Fail closed: an empty list admits nobody, and every
 * GitHub user is admitted only when `*` was written explicitly.
 */
import type { Allowlist } from '../config/load.ts';

/** GitHub logins are case-insensitive (`Octocat` and `octocat` are the same account). */
export function isAllowedLogin(allowlist: Allowlist, login: string): boolean {
  if (allowlist.everyone) return true;
  const normalized = login.trim().toLowerCase();
  return normalized !== '' && allowlist.logins.has(normalized);
}

/** One line for the startup log; never lists the logins themselves. */
export function describeAllowlist(allowlist: Allowlist): string {
  if (allowlist.everyone) return 'every GitHub user (*)';
  const n = allowlist.logins.size;
  if (n === 0) return 'nobody (ALLOWED_GITHUB_USERS is empty)';
  return n === 1 ? '1 GitHub user' : `${n} GitHub users`;
}
