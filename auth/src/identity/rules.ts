/**
 * Who may use what (design: "Identity providers and who may use what"), as pure functions of what
 * is known about a person (Facts) and the configured rules. Any gateway rule admits; none
 * configured admits nobody but the local user. A service's rules narrow further: with none, every
 * admitted person may use it. The verdict names what is missing, for the refusal page and the log.
 */
import type { GatewayRules, ServiceRules } from '../config/identity.ts';
import { serviceSettingName } from '../config/schema.ts';

/** What the gateway knows of a person: their last login, and memberships looked up since. */
export interface Facts {
  /** Provider-prefixed id: `github:12345`, `oidc:<sub>`, `local:local`. */
  id: string;
  /** `github`, `oidc`, `local`. */
  provider: string;
  login: string;
  email?: string;
  /** Only a verified address counts for e-mail rules. */
  emailVerified: boolean;
  /** GitHub: organisations and `org/team`, lower-cased; OIDC: the `groups` claim, as given. */
  groups: readonly string[];
}

export type Verdict =
  | { ok: true }
  /**
   * Not admitted; `missing` says which rule would admit, in words for the person; `service` when
   * it is a service's rule that is missing (admitted to the gateway, not to that service).
   */
  | { ok: false; missing: string; unavailable?: false; service?: string }
  /** Unknown: a membership could not be looked up. Fails closed. */
  | { ok: false; missing: string; unavailable: true };

export const ADMITTED: Verdict = { ok: true };

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1);
const quotedList = (values: Iterable<string>) => [...values].map((v) => `"${v}"`).join(', ');

/** A verified e-mail address, lower-cased, or undefined. */
function verifiedEmail(facts: Facts): string | undefined {
  return facts.emailVerified && facts.email ? facts.email.toLowerCase() : undefined;
}

/** Is this person admitted to the gateway? (The local user is decided by the caller.) */
export function admitToGateway(rules: GatewayRules, facts: Facts): Verdict {
  const github = facts.provider === 'github';
  const login = facts.login.toLowerCase();
  if (github && (rules.githubUsers.everyone || rules.githubUsers.logins.has(login))) return ADMITTED;
  if (github && facts.groups.some((g) => rules.githubOrgs.has(g) || rules.githubTeams.has(g))) return ADMITTED;
  if (facts.provider === 'oidc' && facts.groups.some((g) => rules.groups.has(g))) return ADMITTED;
  const email = verifiedEmail(facts);
  if (email && (rules.emails.has(email) || rules.emailDomains.has(domainOf(email)))) return ADMITTED;
  return { ok: false, missing: gatewayRulesInWords(rules, facts.provider) };
}

/** The rules that could admit someone of this provider, in words. */
function gatewayRulesInWords(rules: GatewayRules, provider: string): string {
  const ways: string[] = [];
  if (provider === 'github') {
    if (rules.githubUsers.logins.size) ways.push('a GitHub login listed in ALLOWED_GITHUB_USERS');
    if (rules.githubOrgs.size)
      ways.push(`membership of the GitHub organisation ${quotedList(rules.githubOrgs)} (ALLOWED_GITHUB_ORGS)`);
    if (rules.githubTeams.size)
      ways.push(`membership of the GitHub team ${quotedList(rules.githubTeams)} (ALLOWED_GITHUB_TEAMS)`);
  }
  if (provider === 'oidc' && rules.groups.size)
    ways.push(`membership of the group ${quotedList(rules.groups)} (ALLOWED_GROUPS)`);
  if (rules.emails.size) ways.push('a verified e-mail address listed in ALLOWED_EMAILS');
  if (rules.emailDomains.size) {
    ways.push(`a verified e-mail address at ${quotedList(rules.emailDomains)} (ALLOWED_EMAIL_DOMAINS)`);
  }
  return ways.length
    ? `This gateway admits people with ${ways.join(', or ')}.`
    : 'No rule of this gateway admits anyone who signs in this way.';
}

/** May this admitted person use `service`? Without rules for it: yes. */
export function admitToService(service: string, rules: ServiceRules | undefined, facts: Facts): Verdict {
  if (!rules) return ADMITTED;
  const email = verifiedEmail(facts);
  const login = facts.login.toLowerCase();
  // A login names a GitHub account or the local user: other providers' usernames are not unique names.
  const byLogin = (facts.provider === 'github' || facts.provider === 'local') && rules.users.has(login);
  if (byLogin || rules.users.has(facts.id.toLowerCase()) || (email && rules.users.has(email))) return ADMITTED;
  const github = facts.provider === 'github';
  for (const group of rules.groups) {
    const wanted = github ? group.toLowerCase() : group;
    if (facts.groups.includes(wanted)) return ADMITTED;
  }
  const ways: string[] = [];
  if (rules.users.size) ways.push(`the users listed in ${serviceSettingName(service, 'ALLOWED_USERS')}`);
  if (rules.groups.size) {
    ways.push(`the members of ${quotedList(rules.groups)} (${serviceSettingName(service, 'ALLOWED_GROUPS')})`);
  }
  return { ok: false, service, missing: `The service ${service} is open only to ${ways.join(' and to ')}.` };
}

/** Do these rules ever need GitHub memberships (and so the `read:org` scope)? */
export function needsGithubMemberships(rules: GatewayRules, services: Iterable<ServiceRules>): boolean {
  if (rules.githubOrgs.size || rules.githubTeams.size) return true;
  for (const s of services) if (s.groups.size) return true;
  return false;
}

/** The GitHub organisations whose membership the rules ask about. */
export function githubOrgsOfRules(rules: GatewayRules, services: Iterable<ServiceRules>): Set<string> {
  const orgs = new Set(rules.githubOrgs);
  for (const team of rules.githubTeams) orgs.add(team.split('/')[0]!);
  for (const s of services) for (const g of s.groups) if (!g.includes('/')) orgs.add(g.toLowerCase());
  return orgs;
}

/**
 * X-User-Groups: a comma list, each group percent-encoded when it holds a comma, `%` or anything
 * outside printable ASCII (so that `decodeURIComponent` of each item gives it back), at most 4 KiB.
 */
export function groupsHeader(groups: readonly string[]): string {
  let out = '';
  for (const group of groups) {
    const item = /^[\x20-\x24\x26-\x2b\x2d-\x7e]*$/.test(group) ? group : encodeURIComponent(group);
    if (out.length + item.length + 1 > 4096) break;
    out = out ? `${out},${item}` : item;
  }
  return out;
}
