/**
 * The identity area of the configuration (config/identity.ts): rules parsed as the design says,
 * and every malformed or conflicting rule refused at startup, all listed at once.
 */
import { ConfigError, loadConfig } from '../../auth/src/config/load.ts';
import { admitToGateway, admitToService, groupsHeader, type Facts } from '../../auth/src/identity/rules.ts';

const GITHUB = { GITHUB_CLIENT_ID: 'id', GITHUB_CLIENT_SECRET: 'secret' };
const OIDC = { OIDC_ISSUER: 'https://idp.example.com', OIDC_CLIENT_ID: 'gw', OIDC_CLIENT_SECRET: 'secret' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('malformed and conflicting rules: startup refused, every problem listed', () => {
  const found = problems({
    ...GITHUB,
    ALLOWED_GITHUB_USERS: '*',
    ALLOWED_GITHUB_TEAMS: 'team-without-org,acme/platform/extra',
    ALLOWED_GITHUB_ORGS: 'acme/platform',
    ALLOWED_EMAILS: 'not-an-address',
    ALLOWED_EMAIL_DOMAINS: '@example.com',
    ALLOWED_GROUPS: 'mcp-users',
    MCP_ECHO_ENABLED: 'true',
    MCP_ECHO_ALLOWED_USERS: 'broken@',
  });
  expect(found).toEqual(
    expect.arrayContaining([
      expect.stringContaining('ALLOWED_GITHUB_TEAMS: "team-without-org" is not a team; write it as org/team-slug'),
      expect.stringContaining('ALLOWED_GITHUB_TEAMS: "acme/platform/extra" is not a team'),
      expect.stringContaining('ALLOWED_GITHUB_ORGS: "acme/platform" is not a GitHub organisation name (teams go in'),
      expect.stringContaining('ALLOWED_EMAILS: "not-an-address" is not an e-mail address'),
      expect.stringContaining(
        'ALLOWED_EMAIL_DOMAINS: "@example.com" is not a domain; write it as example.com, without the @',
      ),
      expect.stringContaining('ALLOWED_GROUPS: names groups of an OpenID Connect provider, but none is configured'),
      expect.stringContaining('ALLOWED_GITHUB_TEAMS and ALLOWED_GITHUB_USERS=*'),
      expect.stringContaining('ALLOWED_GITHUB_ORGS and ALLOWED_GITHUB_USERS=*'),
      expect.stringContaining('MCP_ECHO_ALLOWED_USERS: "broken@" is not an e-mail address'),
    ]),
  );
  expect(found).toHaveLength(9);
});

test('organisation rules without GitHub login, a partial OIDC setting, a scope list without openid', () => {
  expect(problems({ ...OIDC, ALLOWED_GITHUB_ORGS: 'acme', OIDC_SCOPES: 'email profile' })).toEqual([
    expect.stringContaining('OIDC_SCOPES="email profile": must include openid'),
    'ALLOWED_GITHUB_ORGS: names GitHub memberships, but GitHub login is not configured.',
  ]);
  expect(problems({ OIDC_ISSUER: 'https://idp.example.com' })).toContain(
    'OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: set all three (from your provider) or none.',
  );
  expect(problems({ ...OIDC, OIDC_ISSUER: 'http://idp.example.com' })).toEqual([
    expect.stringContaining('must be an https URL'),
  ]);
});

test('rules as parsed: lower-cased where names are case-insensitive, OIDC groups as written', () => {
  const config = loadConfig({
    ...GITHUB,
    ...OIDC,
    ALLOWED_GITHUB_ORGS: 'Acme',
    ALLOWED_GITHUB_TEAMS: 'Acme/Platform',
    ALLOWED_EMAILS: 'Ada@Example.com',
    ALLOWED_EMAIL_DOMAINS: 'Example.org',
    ALLOWED_GROUPS: 'MCP-Users',
    MEMBERSHIP_CACHE_TTL: '60',
    MCP_TMUX_ENABLED: 'true',
    MCP_TMUX_ALLOWED_GROUPS: 'acme/platform,Ops',
  });
  expect(config.oidc).toEqual({
    issuer: 'https://idp.example.com',
    clientId: 'gw',
    clientSecret: 'secret',
    name: 'OpenID Connect',
    scopes: ['openid', 'email', 'profile'],
  });
  expect(config.localUser).toBe(false);
  expect(config.rules.githubOrgs).toEqual(new Set(['acme']));
  expect(config.rules.githubTeams).toEqual(new Set(['acme/platform']));
  expect(config.rules.emails).toEqual(new Set(['ada@example.com']));
  expect(config.rules.emailDomains).toEqual(new Set(['example.org']));
  expect(config.rules.groups).toEqual(new Set(['MCP-Users']));
  expect(config.membershipTtl).toBe(60);
  expect(config.serviceRules.get('tmux')?.groups).toEqual(new Set(['acme/platform', 'Ops']));
});

describe('the rules', () => {
  const rules = loadConfig({
    ...GITHUB,
    ...OIDC,
    ALLOWED_GITHUB_USERS: 'octocat',
    ALLOWED_GITHUB_TEAMS: 'acme/platform',
    ALLOWED_EMAIL_DOMAINS: 'example.com',
    ALLOWED_GROUPS: 'mcp-users',
  }).rules;
  const person = (f: Partial<Facts>): Facts => ({
    id: 'github:1',
    provider: 'github',
    login: 'someone',
    emailVerified: false,
    groups: [],
    ...f,
  });

  test.each<[string, Partial<Facts>, boolean]>([
    ['a listed login, any case', { login: 'OctoCat' }, true],
    ['a member of the team', { groups: ['acme', 'acme/platform'] }, true],
    ['a member of the organisation only', { groups: ['acme'] }, false],
    ['a verified address at the domain', { email: 'a@Example.com', emailVerified: true }, true],
    ['an unverified address at the domain', { email: 'a@example.com' }, false],
    ['a subdomain', { email: 'a@eu.example.com', emailVerified: true }, false],
    ['an OIDC member of the group', { provider: 'oidc', id: 'oidc:x', groups: ['mcp-users'] }, true],
    ['an OIDC group differing in case', { provider: 'oidc', id: 'oidc:x', groups: ['MCP-users'] }, false],
    ['an OIDC user named like a listed GitHub login', { provider: 'oidc', id: 'oidc:x', login: 'octocat' }, false],
    ['a GitHub user in a group named like an OIDC one', { groups: ['mcp-users'] }, false],
  ])('%s: %s', (_what, facts, admitted) => {
    expect(admitToGateway(rules, person(facts)).ok).toBe(admitted);
  });

  test('per service: logins (GitHub only), verified e-mails, ids, groups; the refusal names the settings', () => {
    const service = { users: new Set(['alice', 'bob@example.com', 'oidc:sub-1']), groups: new Set(['acme/platform']) };
    expect(admitToService('tmux', service, person({ login: 'Alice' })).ok).toBe(true);
    expect(admitToService('tmux', service, person({ provider: 'oidc', id: 'oidc:z', login: 'alice' })).ok).toBe(false);
    expect(admitToService('tmux', service, person({ email: 'bob@example.com', emailVerified: true })).ok).toBe(true);
    expect(admitToService('tmux', service, person({ email: 'bob@example.com' })).ok).toBe(false);
    expect(admitToService('tmux', service, person({ provider: 'oidc', id: 'oidc:sub-1' })).ok).toBe(true);
    expect(admitToService('tmux', service, person({ groups: ['acme/platform'] })).ok).toBe(true);
    expect(admitToService('tmux', undefined, person({})).ok).toBe(true);
    expect(admitToService('tmux', service, person({}))).toEqual({
      ok: false,
      service: 'tmux',
      missing:
        'The service tmux is open only to the users listed in MCP_TMUX_ALLOWED_USERS and to the members of "acme/platform" (MCP_TMUX_ALLOWED_GROUPS).',
    });
  });

  test('X-User-Groups: a comma list, items with commas, % or non-ASCII percent-encoded, at most 4 KiB', () => {
    expect(groupsHeader(['acme', 'acme/platform'])).toBe('acme,acme/platform');
    expect(groupsHeader(['on,call', '100%', 'équipe'])).toBe('on%2Ccall,100%25,%C3%A9quipe');
    const many = groupsHeader(Array.from({ length: 1000 }, (_, i) => `group-number-${i}`));
    expect(many.length).toBeLessThanOrEqual(4096);
    expect(many.split(',')[0]).toBe('group-number-0');
  });
});
