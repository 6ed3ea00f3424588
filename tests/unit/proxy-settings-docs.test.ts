/** Every setting the stdio proxy reads is in its README's table, and the table names no other. */
import { readFileSync } from 'node:fs';

test('mcp-services/proxy/README.md documents exactly the MCP_PROXY_* settings config.ts reads', () => {
  const code = readFileSync('mcp-services/proxy/src/config.ts', 'utf8');
  const readme = readFileSync('mcp-services/proxy/README.md', 'utf8');
  const read = new Set([...code.matchAll(/'(MCP_PROXY_[A-Z_]+)'/g)].map((m) => m[1]));
  const documented = new Set([...readme.matchAll(/^\| `(MCP_PROXY_[A-Z_]+)`/gm)].map((m) => m[1]));
  expect(read.size).toBeGreaterThan(8);
  expect([...documented].sort()).toEqual([...read].sort());
});
