/**
 * auth/ and mcp-services/ meet only in contracts/ (eslint.config.js, no-restricted-imports): the rule
 * fires on an import across the boundary and lets contracts/ and the catalogue through.
 */
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../../mcp-services/catalogue.ts';

const eslint = new ESLint({ cwd: REPO_ROOT });

async function restricted(filePath: string, from: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${from}';\nexport const y = x;\n`, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test.each([
  ['mcp-services/shared/probe.ts', '../../auth/src/log.ts'],
  ['mcp-services/proxy/src/probe.ts', '../../../auth/src/edge/edge-secret.ts'],
  ['auth/src/edge/probe.ts', '../../../mcp-services/shared/edge-guard.ts'],
  ['auth/src/probe.ts', '../../mcp-services/proxy/src/config.ts'],
])('%s may not import %s', async (file, from) => {
  expect(await restricted(file, from)).toEqual([expect.stringContaining('contracts/')]);
});

test.each([
  ['mcp-services/shared/probe.ts', '../../contracts/headers.ts'],
  ['auth/src/verify/probe.ts', '../../../contracts/loopback.ts'],
  ['auth/src/edge/probe.ts', '../../../mcp-services/catalogue.ts'],
  ['mcp-services/shared/probe.ts', './identity.ts'],
])('%s may import %s', async (file, from) => {
  expect(await restricted(file, from)).toEqual([]);
});
