/**
 * The startup log's account of who is admitted (config/identity.ts GatewayRules): counts and
 * names of rules, never the logins or addresses themselves.
 */
import type { Allowlist, GatewayRules } from '../config/identity.ts';

/** ALLOWED_GITHUB_USERS in words. */
export function describeAllowlist(allowlist: Allowlist): string {
  if (allowlist.everyone) return 'every GitHub user (*)';
  const n = allowlist.logins.size;
  if (n === 0) return 'nobody (ALLOWED_GITHUB_USERS is empty)';
  return n === 1 ? '1 GitHub user' : `${n} GitHub users`;
}

/** Every gateway rule in words; empty when there is none (then nobody but the local user is admitted). */
export function describeRules(rules: GatewayRules): string[] {
  const out: string[] = [];
  const count = (n: number, one: string, many: string) => (n === 1 ? `1 ${one}` : `${n} ${many}`);
  if (rules.githubUsers.everyone || rules.githubUsers.logins.size) out.push(describeAllowlist(rules.githubUsers));
  if (rules.githubOrgs.size) out.push(count(rules.githubOrgs.size, 'GitHub organisation', 'GitHub organisations'));
  if (rules.githubTeams.size) out.push(count(rules.githubTeams.size, 'GitHub team', 'GitHub teams'));
  if (rules.emails.size) out.push(count(rules.emails.size, 'e-mail address', 'e-mail addresses'));
  if (rules.emailDomains.size) out.push(count(rules.emailDomains.size, 'e-mail domain', 'e-mail domains'));
  if (rules.groups.size) out.push(count(rules.groups.size, 'OpenID Connect group', 'OpenID Connect groups'));
  return out;
}
