import { describeAllowlist } from '../../auth/src/identity/allowlist.ts';
import type { Allowlist } from '../../auth/src/config/load.ts';

const list = (logins: string[], everyone = false): Allowlist => ({ everyone, logins: new Set(logins) });

describe('describeAllowlist', () => {
  test('says who is admitted without naming anyone', () => {
    expect(describeAllowlist(list([]))).toBe('nobody (ALLOWED_GITHUB_USERS is empty)');
    expect(describeAllowlist(list([], true))).toBe('every GitHub user (*)');
    expect(describeAllowlist(list(['octocat']))).toBe('1 GitHub user');
    expect(describeAllowlist(list(['a', 'b', 'c']))).toBe('3 GitHub users');
    expect(describeAllowlist(list(['octocat', 'hubot']))).not.toMatch(/octocat|hubot/);
  });
});
