/**
 * An MCP service's name: the first path segment of its URL (`/<name>/mcp`), its Compose service and
 * profile, and the middle of its `MCP_<NAME>_ENABLED` switch (docs/configuration.md). One
 * definition for the settings, the edges, /verify and the deployment scripts.
 */
export const SERVICE_NAME_PATTERN = '[a-z][a-z0-9-]{0,62}';
export const SERVICE_NAME = new RegExp(`^${SERVICE_NAME_PATTERN}$`);
