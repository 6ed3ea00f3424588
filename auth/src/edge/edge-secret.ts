/**
 * Each MCP service's edge secret: HMAC-SHA256(EDGE_SECRET, "mcp-gateway-edge:" + name), base64url.
 * /verify answers a request it lets through with the secret of that request's service (header
 * `X-Gateway-Edge`, chain.ts); the edge copies it onto the request; the service compares it with
 * its own (mcp-services/shared/edge-guard.ts). A service learns only its own secret, so a
 * service that is taken over cannot pass for the edge to any other. Node built-ins only: the
 * deployment scripts derive the services' secrets with it before any `npm install`.
 */
import { createHmac } from 'node:crypto';

export function serviceEdgeSecret(edgeSecret: string, service: string): string {
  return createHmac('sha256', edgeSecret).update(`mcp-gateway-edge:${service}`).digest('base64url');
}
