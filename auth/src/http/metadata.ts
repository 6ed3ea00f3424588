/**
 * RFC 9728 protected-resource metadata, one document per service, and the path-suffixed
 * discovery URLs some clients probe before the root forms (clients.md: a 404 loop there is the
 * most reported failure).
 */
import type { Request, Response } from 'express';
import type { Config } from '../config/load.ts';
import type { ServiceConfig } from '../config/load.ts';
import type { ServiceRegistry } from '../oidc/services.ts';
import { NotFoundError } from '../errors.ts';

export function protectedResourceMetadata(config: Config, service: ServiceConfig) {
  // RFC 9728 §2 / §3.2; `resource` is exactly the URL clients connect to (strict clients
  // compare them, clients.md).
  return {
    resource: service.resource,
    authorization_servers: [config.publicUrl],
    scopes_supported: service.scopes,
    bearer_methods_supported: ['header'],
    resource_name: service.name,
  };
}

export function protectedResourceMetadataHandler(config: Config, registry: ServiceRegistry) {
  return function servePrm(req: Request, res: Response) {
    // RFC 9728 §3.1: /.well-known/oauth-protected-resource/<service>/mcp. The root form answers
    // only when it is unambiguous (a single service).
    const name = req.params.service;
    const service = name === undefined ? registry.onlyService : registry.byName(String(name));
    if (!service)
      throw new NotFoundError(
        'no protected resource here; the metadata lives at /.well-known/oauth-protected-resource/<service>/mcp',
      );
    res
      .set('cache-control', 'public, max-age=300')
      .set('access-control-allow-origin', '*')
      .json(protectedResourceMetadata(config, service));
  };
}
