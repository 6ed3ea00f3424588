import { Provider } from 'oidc-provider';
import { thing } from './helper.ts';
test('loads', () => {
  expect(typeof Provider).toBe('function');
  expect(thing).toBe(2);
  expect(import.meta.url).toContain('smoke');
});
