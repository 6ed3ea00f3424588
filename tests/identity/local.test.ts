import { LocalUser, PASSWORD_ALPHABET } from '../../auth/src/identity/local.ts';

const LOCAL = { id: 'local:local', login: 'local', name: 'Local user', provider: 'local' };

test('the right password gives the local user, a wrong one nothing', () => {
  const user = new LocalUser({ password: 'open sesame 123' });
  expect(user.login).toBe('local');
  expect(user.verify('open sesame 123')).toEqual(LOCAL);
  expect(user.verify('open sesame 12')).toBeUndefined();
  expect(user.verify('open sesame 1234')).toBeUndefined();
  expect(user.verify('OPEN SESAME 123')).toBeUndefined();
  expect(user.verify('')).toBeUndefined();
});

test('a generated password works and is never empty', () => {
  const user = new LocalUser();
  expect(user.password.length).toBeGreaterThan(0);
  expect(user.verify(user.password)).toEqual(LOCAL);
});

test('generated passwords are 20 symbols of the unambiguous alphabet, in groups of five, and distinct', () => {
  expect(PASSWORD_ALPHABET).toHaveLength(32);
  expect(PASSWORD_ALPHABET).not.toMatch(/[01lo]/);
  const passwords = Array.from({ length: 200 }, () => new LocalUser().password);
  for (const p of passwords) {
    expect(p).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect([...p.replaceAll('-', '')].every((c) => PASSWORD_ALPHABET.includes(c))).toBe(true);
  }
  expect(new Set(passwords).size).toBe(passwords.length);
  // Every symbol of the alphabet turns up (4000 draws of 32 symbols): the mapping covers it all.
  expect(new Set(passwords.join('').replaceAll('-', '')).size).toBe(32);
});

describe('brute-force protection', () => {
  let now = 1_000_000;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  test('five wrong passwords within ten minutes lock out even the right one, for a while', () => {
    const user = new LocalUser({ password: 'right', now: clock });
    for (let i = 0; i < 4; i++) expect(user.verify('wrong')).toBeUndefined();
    expect(user.isLocked()).toBe(false);
    expect(user.verify('wrong')).toBeUndefined();
    expect(user.isLocked()).toBe(true);
    expect(user.verify('right')).toBeUndefined();
    now += 4 * 60_000;
    expect(user.verify('right')).toBeUndefined();
    now += 60_000 + 1;
    expect(user.isLocked()).toBe(false);
    expect(user.verify('right')).toEqual(LOCAL);
  });

  test('four failures do not lock, and failures older than ten minutes are forgotten', () => {
    const user = new LocalUser({ password: 'right', now: clock });
    for (let i = 0; i < 4; i++) user.verify('wrong');
    expect(user.verify('right')).toEqual(LOCAL);
    for (let i = 0; i < 4; i++) user.verify('wrong');
    now += 10 * 60_000;
    user.verify('wrong');
    expect(user.isLocked()).toBe(false);
    expect(user.verify('right')).toEqual(LOCAL);
  });

  test('a successful login resets the count', () => {
    const user = new LocalUser({ password: 'right', now: clock });
    for (let i = 0; i < 4; i++) user.verify('wrong');
    expect(user.verify('right')).toEqual(LOCAL);
    for (let i = 0; i < 4; i++) user.verify('wrong');
    expect(user.isLocked()).toBe(false);
  });
});
