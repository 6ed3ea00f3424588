/**
 * How the embedded default (`npm start`) runs each known MCP service as its own process.
 * The process listens on HOST/PORT from its environment and serves Streamable HTTP at /mcp.
 * (In the Compose stack each runs in its own container with the same command.)
 */
export interface CatalogueEntry {
  description: string;
  /** argv, run from the repository root; `node` means the Node running the gateway. */
  command: string[];
}

export const CATALOGUE: Record<string, CatalogueEntry> = {
  'echo-stateless': {
    description: 'Echo tools without sessions; shows the identity the gateway passes.',
    command: ['node', 'mcp-services/echo-stateless/src/main.ts'],
  },
  'echo-stateful': {
    description: 'Echo tools with sessions; shows the identity the gateway passes.',
    command: ['node', 'mcp-services/echo-stateful/src/main.ts'],
  },
};
