import { describeAllowlist, isAllowedLogin } from '../../auth/src/identity/allowlist.ts';
import type { Allowlist } from '../../auth/src/config/load.ts';

const list = (logins: string[], everyone = false): Allowlist => ({ everyone, logins: new Set(logins) });

describe('isAllowedLogin', () => {
  test('admits listed logins whatever their case and surrounding spaces', () => {
    const a = list(['octocat', 'hubot']);
    expect(isAllowedLogin(a, 'octocat')).toBe(true);
    expect(isAllowedLogin(a, 'OctoCat')).toBe(true);
    expect(isAllowedLogin(a, '  hubot ')).toBe(true);
  });

  test('refuses logins not on the list, and near misses', () => {
    const a = list(['octocat']);
    expect(isAllowedLogin(a, 'mallory')).toBe(false);
    expect(isAllowedLogin(a, 'octocat2')).toBe(false);
    expect(isAllowedLogin(a, 'octo')).toBe(false);
    expect(isAllowedLogin(a, '')).toBe(false);
  });

  test('an empty list admits nobody', () => {
    expect(isAllowedLogin(list([]), 'octocat')).toBe(false);
  });

  test('`*` admits every login', () => {
    expect(isAllowedLogin(list([], true), 'anyone')).toBe(true);
    expect(isAllowedLogin(list(['octocat'], true), 'mallory')).toBe(true);
  });
});

describe('describeAllowlist', () => {
  test('says who is admitted without naming anyone', () => {
    expect(describeAllowlist(list([]))).toBe('nobody (ALLOWED_GITHUB_USERS is empty)');
    expect(describeAllowlist(list([], true))).toBe('every GitHub user (*)');
    expect(describeAllowlist(list(['octocat']))).toBe('1 GitHub user');
    expect(describeAllowlist(list(['a', 'b', 'c']))).toBe('3 GitHub users');
    expect(describeAllowlist(list(['octocat', 'hubot']))).not.toMatch(/octocat|hubot/);
  });
});
