/**
 * The identity area of the configuration: which providers people log in with (GitHub, one OpenID
 * Connect provider, or the local user of `npm start`), who is admitted to the gateway, and who
 * among them may use each service. Contract: the design's "Identity providers and who may use
 * what". Every problem is reported with every other one at once (load.ts).
 */
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import { SERVICE_RULE_SETTINGS, serviceSettingName, type SettingName } from './schema.ts';

export interface GithubConfig {
  clientId: string;
  clientSecret: string;
  baseUrl: string;
  apiUrl: string;
}

export interface OidcConfig {
  /** OIDC_ISSUER, exactly as written (without a trailing slash): the `iss` ID tokens must carry. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** OIDC_NAME: the login button's label. */
  name: string;
  /** OIDC_SCOPES, `openid` first. */
  scopes: string[];
}

export interface Allowlist {
  /** `*` was written explicitly. */
  everyone: boolean;
  /** Lower-cased, trimmed logins. */
  logins: ReadonlySet<string>;
}

/** Who is admitted to the gateway: any rule admits (all lower-cased but OIDC groups). */
export interface GatewayRules {
  githubUsers: Allowlist;
  githubOrgs: ReadonlySet<string>;
  /** `org/team-slug`. */
  githubTeams: ReadonlySet<string>;
  emails: ReadonlySet<string>;
  emailDomains: ReadonlySet<string>;
  /** OIDC `groups` claim values, case-sensitive. */
  groups: ReadonlySet<string>;
}

/** Who among the admitted may use one service; absent: everyone admitted. */
export interface ServiceRules {
  /** Lower-cased logins, e-mail addresses (with `@`) and user ids (`oidc:…`, `github:…`). */
  users: ReadonlySet<string>;
  /** GitHub `org` / `org/team` (lower-cased) and OIDC groups (as written). */
  groups: ReadonlySet<string>;
}

/** A GitHub organisation or user login: letters, digits, single hyphens; a team slug likewise (and `_`). */
const GITHUB_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,98})$/;
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const EMAIL = /^[^\s@,]+@[^\s@,]+$/;

const list = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function parseAllowlist(text: string): Allowlist {
  const logins = new Set(list(text).map((s) => s.toLowerCase()));
  const everyone = logins.delete('*');
  return { everyone, logins };
}

interface IdentitySettings {
  GITHUB_CLIENT_ID?: string;
  GITHUB_CLIENT_SECRET?: string;
  GITHUB_BASE_URL: string;
  GITHUB_API_URL: string;
  OIDC_ISSUER?: string;
  OIDC_CLIENT_ID?: string;
  OIDC_CLIENT_SECRET?: string;
  OIDC_NAME: string;
  OIDC_SCOPES: string;
  ALLOWED_GITHUB_USERS: string;
  ALLOWED_GITHUB_ORGS: string;
  ALLOWED_GITHUB_TEAMS: string;
  ALLOWED_EMAILS: string;
  ALLOWED_EMAIL_DOMAINS: string;
  ALLOWED_GROUPS: string;
  MEMBERSHIP_CACHE_TTL: number;
}

function githubTeams(entries: string[], setting: string, problems: string[]): Set<string> {
  const teams = new Set<string>();
  for (const entry of entries) {
    const [org, team, ...rest] = entry.toLowerCase().split('/');
    if (!org || !team || rest.length || !GITHUB_NAME.test(org) || !GITHUB_NAME.test(team)) {
      problems.push(`${setting}: "${entry}" is not a team; write it as org/team-slug (e.g. my-company/platform).`);
    } else teams.add(`${org}/${team}`);
  }
  return teams;
}

function gatewayRules(raw: IdentitySettings, problems: string[]): GatewayRules {
  const githubOrgs = new Set<string>();
  for (const org of list(raw.ALLOWED_GITHUB_ORGS)) {
    if (GITHUB_NAME.test(org.toLowerCase())) githubOrgs.add(org.toLowerCase());
    else
      problems.push(
        `ALLOWED_GITHUB_ORGS: "${org}" is not a GitHub organisation name${org.includes('/') ? ' (teams go in ALLOWED_GITHUB_TEAMS)' : ''}.`,
      );
  }
  const emails = new Set<string>();
  for (const email of list(raw.ALLOWED_EMAILS)) {
    if (EMAIL.test(email)) emails.add(email.toLowerCase());
    else problems.push(`ALLOWED_EMAILS: "${email}" is not an e-mail address.`);
  }
  const emailDomains = new Set<string>();
  for (const domain of list(raw.ALLOWED_EMAIL_DOMAINS)) {
    if (DOMAIN.test(domain.toLowerCase())) emailDomains.add(domain.toLowerCase());
    else
      problems.push(
        `ALLOWED_EMAIL_DOMAINS: "${domain}" is not a domain; write it as example.com${domain.startsWith('@') ? ', without the @' : ''}.`,
      );
  }
  return {
    githubUsers: parseAllowlist(raw.ALLOWED_GITHUB_USERS),
    githubOrgs,
    githubTeams: githubTeams(list(raw.ALLOWED_GITHUB_TEAMS), 'ALLOWED_GITHUB_TEAMS', problems),
    emails,
    emailDomains,
    groups: new Set(list(raw.ALLOWED_GROUPS)),
  };
}

/** MCP_<S>_ALLOWED_USERS and MCP_<S>_ALLOWED_GROUPS of every enabled service. */
function serviceRules(
  env: NodeJS.ProcessEnv,
  services: readonly string[],
  providers: { github: boolean; oidc: boolean },
  problems: string[],
): Map<string, ServiceRules> {
  const rules = new Map<string, ServiceRules>();
  for (const service of services) {
    const [usersName, groupsName] = SERVICE_RULE_SETTINGS.map((s) => serviceSettingName(service, s.suffix)) as [
      string,
      string,
    ];
    const users = list(env[usersName]).map((u) => u.toLowerCase());
    const groups = new Set<string>();
    for (const group of list(env[groupsName])) {
      const parts = group.split('/');
      // A GitHub org or org/team is lower-cased (GitHub names are case-insensitive); an OIDC group is kept.
      const github = providers.github && parts.length <= 2 && parts.every((p) => GITHUB_NAME.test(p.toLowerCase()));
      if (!github && !providers.oidc) {
        problems.push(
          `${groupsName}: "${group}" is not a GitHub organisation (org) or team (org/team-slug)${providers.github ? '' : ', and no identity provider with groups is configured'}.`,
        );
        continue;
      }
      groups.add(github && !providers.oidc ? group.toLowerCase() : group);
    }
    const bad = users.find((u) => u.includes('@') && !EMAIL.test(u));
    if (bad) problems.push(`${usersName}: "${bad}" is not an e-mail address.`);
    if (users.length || groups.size) rules.set(service, { users: new Set(users), groups });
  }
  return rules;
}

/**
 * GitHub login and/or one OpenID Connect provider, and the rules; without a provider, the local
 * user on loopback only.
 */
export function identityArea(
  raw: IdentitySettings,
  env: NodeJS.ProcessEnv,
  services: readonly string[],
  address: { publicUrl: string; host: string },
  problems: string[],
) {
  let github: GithubConfig | undefined;
  const { GITHUB_CLIENT_ID: ghId, GITHUB_CLIENT_SECRET: ghSecret } = raw;
  if (ghId && ghSecret) {
    github = {
      clientId: ghId,
      clientSecret: ghSecret,
      baseUrl: raw.GITHUB_BASE_URL.replace(/\/+$/, ''),
      apiUrl: raw.GITHUB_API_URL.replace(/\/+$/, ''),
    };
  } else if (ghId || ghSecret) {
    problems.push('GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET: set both (from your GitHub OAuth app) or neither.');
  }

  let oidc: OidcConfig | undefined;
  const { OIDC_ISSUER: issuer, OIDC_CLIENT_ID: oidcId, OIDC_CLIENT_SECRET: oidcSecret } = raw;
  if (issuer && oidcId && oidcSecret) {
    const scopes = [...new Set(raw.OIDC_SCOPES.split(' '))];
    if (!scopes.includes('openid')) {
      problems.push(`OIDC_SCOPES="${raw.OIDC_SCOPES}": must include openid (OpenID Connect Core §3.1.2.1).`);
    }
    const url = URL.parse(issuer);
    // OpenID Connect Discovery §3: the issuer is https, without query or fragment (http: loopback only, for tests).
    if (!url || url.search || url.hash || !(url.protocol === 'https:' || isLoopbackHost(url.hostname))) {
      problems.push(`OIDC_ISSUER="${issuer}": must be an https URL without query or fragment.`);
    }
    oidc = {
      issuer: issuer.replace(/\/+$/, ''),
      clientId: oidcId,
      clientSecret: oidcSecret,
      name: raw.OIDC_NAME,
      scopes: ['openid', ...scopes.filter((s) => s !== 'openid')],
    };
  } else if (issuer || oidcId || oidcSecret) {
    problems.push('OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: set all three (from your provider) or none.');
  }

  const rules = gatewayRules(raw, problems);
  // What was written, valid or not: a conflict is one whatever else is wrong with the entries.
  const needGithub: [SettingName, number][] = [
    ['ALLOWED_GITHUB_ORGS', list(raw.ALLOWED_GITHUB_ORGS).length],
    ['ALLOWED_GITHUB_TEAMS', list(raw.ALLOWED_GITHUB_TEAMS).length],
  ];
  for (const [name, n] of needGithub) {
    if (n && !github) problems.push(`${name}: names GitHub memberships, but GitHub login is not configured.`);
    if (n && rules.githubUsers.everyone) {
      problems.push(
        `${name} and ALLOWED_GITHUB_USERS=*: \`*\` admits every GitHub user, so ${name} would do nothing; remove one.`,
      );
    }
  }
  if (rules.groups.size && !oidc) {
    problems.push(
      'ALLOWED_GROUPS: names groups of an OpenID Connect provider, but none is configured (GitHub organisations and teams go in ALLOWED_GITHUB_ORGS and ALLOWED_GITHUB_TEAMS).',
    );
  }

  const { publicUrl, host } = address;
  // The local password login is for one person on one machine: listening on loopback is not
  // enough when PUBLIC_URL says a reverse proxy (Caddy, nginx) brings the network to it.
  const publicHost = URL.canParse(publicUrl) ? new URL(publicUrl).hostname : '';
  const localUser = !github && !oidc && isLoopbackHost(host) && isLoopbackHost(publicHost);
  if (!github && !oidc && !localUser) {
    const where = isLoopbackHost(host) ? `PUBLIC_URL=${publicUrl} is not loopback` : `HOST=${host} is not loopback`;
    problems.push(
      `No identity provider is configured and ${where}: nobody could log in, and a local password login must never face a network. Configure GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (or OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET), or run on loopback only (HOST=127.0.0.1, PUBLIC_URL empty or http://localhost:<port>).`,
    );
  }
  return {
    github,
    oidc,
    /** Who is admitted to the gateway. */
    rules,
    /** Per service (by name): who among the admitted may use it. */
    serviceRules: serviceRules(env, services, { github: !!github, oidc: !!oidc }, problems),
    /** MEMBERSHIP_CACHE_TTL in seconds. */
    membershipTtl: raw.MEMBERSHIP_CACHE_TTL,
    /** No identity provider configured and listening on loopback: one local user, one-time password. */
    localUser,
  };
}
