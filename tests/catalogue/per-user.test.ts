/** mcp-services/shared/per-user.sh: a directory per user, never shared, never escaping the base. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const base = mkdtempSync(join(tmpdir(), 'per-user-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function wrapped(userId: string | undefined, ...args: string[]) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, MCP_DATA_DIR: base };
  if (userId !== undefined) env.MCP_USER_ID = userId;
  const { stdout } = await run('sh', ['mcp-services/shared/per-user.sh', ...args], { env });
  return stdout.trim();
}

test('each user gets a directory of their own, as $MCP_USER_DIR and for {user_dir} in arguments', async () => {
  const a = await wrapped('github:1001', 'sh', '-c', 'echo "$MCP_USER_DIR|$1"', '_', 'path={user_dir}/memory.jsonl');
  expect(a).toBe(`${base}/github_1001|path=${base}/github_1001/memory.jsonl`);
  expect(existsSync(join(base, 'github_1001'))).toBe(true);
  const b = await wrapped('github:2002', 'printenv', 'MCP_USER_DIR');
  expect(b).toBe(`${base}/github_2002`);
});

test('a user id cannot climb out of the base directory', async () => {
  expect(await wrapped('../../etc', 'printenv', 'MCP_USER_DIR')).toBe(`${base}/______etc`);
  expect(await wrapped('..', 'printenv', 'MCP_USER_DIR')).toBe(`${base}/__`);
  expect(await wrapped('a/b c', 'printenv', 'MCP_USER_DIR')).toBe(`${base}/a_b_c`);
});

test('without a user it refuses to run', async () => {
  await expect(wrapped(undefined, 'true')).rejects.toMatchObject({ code: 64 });
});
