import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'dotenv';
import { generatedFiles } from '../../auth/src/config/docs.ts';
import { loadConfig } from '../../auth/src/config/load.ts';
import { settings, type SettingDoc } from '../../auth/src/config/schema.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const names = Object.keys(settings) as (keyof typeof settings)[];

test.each(generatedFiles().map((f) => [f.path, f.content]))('%s is what the schema generates', (path, expected) => {
  const actual = existsSync(join(ROOT, path)) ? read(path) : undefined;
  if (actual !== expected) {
    throw new Error(
      `${path} is ${actual === undefined ? 'missing' : 'out of date with auth/src/config/schema.ts'}. Run \`npm run docs:config\`.`,
    );
  }
});

test('every setting appears in docs/configuration.md and .env.example', () => {
  const markdown = read('docs/configuration.md');
  const env = parse(read('.env.example'));
  for (const name of names) {
    expect(markdown).toContain(`### \`${name}\``);
    expect(Object.keys(env)).toContain(name);
  }
});

test('.env.example gives no secret a value and leaves dangerous switches off', () => {
  const env = parse(read('.env.example'));
  for (const name of names) {
    const doc = settings[name].doc as SettingDoc;
    if (doc.secret) expect({ name, value: env[name] }).toEqual({ name, value: '' });
    if (doc.dangerous) expect({ name, value: env[name] }).toEqual({ name, value: 'false' });
  }
});

test('both files say they are generated and how to regenerate them', () => {
  expect(read('docs/configuration.md').split('\n')[0]).toContain('npm run docs:config');
  expect(read('.env.example').split('\n')[0]).toContain('npm run docs:config');
});

test('.env.example copied as it is gives a valid configuration: the embedded default with the echo services', () => {
  const config = loadConfig(parse(read('.env.example')));
  expect(config.publicUrl).toBe('http://localhost:8000');
  expect(config.localUser).toBe(true);
  expect(config.services.map((s) => s.name)).toEqual(['echo-stateful', 'echo-stateless']);
});
