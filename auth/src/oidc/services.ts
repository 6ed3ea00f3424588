/**
 * The enabled MCP services as protected resources. A service's resource identifier is exactly
 * `PUBLIC_URL/<name>/mcp` (RFC 8707 §2; docs/deployment.md "How requests are routed"); clients send variations of it, so every comparison goes
 * through `canonicalResource`.
 */
import type { ServiceConfig } from '../config/load.ts';

/**
 * RFC 8707 §2 resource → canonical form: scheme and host lower-cased and default port dropped
 * (RFC 3986 §6.2.2, done by WHATWG URL), trailing slashes removed (Claude Code, the Vercel AI
 * SDK and FastMCP append one). Undefined for what cannot be a resource (not absolute, fragment).
 */
export function canonicalResource(input: string): string | undefined {
  const url = URL.parse(input.trim());
  if (!url || url.hash || input.includes('#')) return undefined;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${path}${url.search}`;
}

export class ServiceRegistry {
  readonly services: readonly ServiceConfig[];
  private readonly byResourceId: Map<string, ServiceConfig>;
  private readonly byServiceName: Map<string, ServiceConfig>;

  constructor(services: readonly ServiceConfig[]) {
    this.services = services;
    this.byResourceId = new Map(services.map((s) => [s.resource, s]));
    this.byServiceName = new Map(services.map((s) => [s.name, s]));
  }

  byResource(resource: string): ServiceConfig | undefined {
    const canonical = canonicalResource(resource);
    return canonical === undefined ? undefined : this.byResourceId.get(canonical);
  }

  byName(name: string): ServiceConfig | undefined {
    return this.byServiceName.get(name);
  }

  /** The service a request without `resource` means: the only one, if exactly one is enabled. */
  get onlyService(): ServiceConfig | undefined {
    return this.services.length === 1 ? this.services[0] : undefined;
  }

  /** Every scope any service uses. */
  get scopes(): string[] {
    return [...new Set(this.services.flatMap((s) => s.scopes))];
  }
}
