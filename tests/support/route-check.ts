/**
 * Every path an end-to-end suite's clients requested (browser, SDK, mcp-remote, Inspector,
 * conformance) goes to the same place behind Traefik as it went behind the local edge. The
 * local edge logs each request it routed at debug level (`edge routed`: method, normalised path,
 * destination, auth/src/edge/edge.ts); the stack's `stop()` hands those lines here, and the
 * Traefik model built from the generated configuration (traefik-model.ts) must route each path
 * the same way: to the auth service, to the same MCP service, or nowhere.
 */
import { normalizeTarget } from '../../auth/src/edge/routes.ts';
import { CATALOGUE } from '../../mcp-services/catalogue.ts';
import { loadTraefikModel } from './traefik-model.ts';

const DOMAIN = 'mcp.example.com';

export interface RoutedRequest {
  method: string;
  path: string;
  route: 'auth' | 'service' | 'internal' | 'none';
}

/** The `edge routed` lines of a stack's log. */
export function routedRequests(logs: Record<string, unknown>[]): RoutedRequest[] {
  return logs.filter((l) => l.msg === 'edge routed') as unknown as RoutedRequest[];
}

let model: ReturnType<typeof loadTraefikModel> | undefined;

/** Where Traefik sends a path, in the local edge's words. */
function traefikDestination(path: string): string {
  const routed = (model ??= loadTraefikModel(DOMAIN)).route(DOMAIN, path);
  switch (routed.kind) {
    case 'auth':
      return 'auth';
    case 'service':
      return `service ${routed.service}`;
    default:
      return 'nowhere';
  }
}

function localDestination(r: RoutedRequest): string {
  if (r.route === 'auth') return 'auth';
  if (r.route === 'service') return `service ${r.path.split('/')[1]}`;
  return 'nowhere'; // internal and unrouted paths: 404 at every edge
}

/**
 * The requests on which Traefik and the local edge disagree (empty when they agree), each with
 * both destinations. Throws when nothing was recorded: a suite that routed no request through
 * the edge proves nothing (the stack must log at debug level).
 */
export function routeDisagreements(requests: RoutedRequest[]): string[] {
  if (requests.length === 0) throw new Error('no `edge routed` line was logged: start the stack with LOG_LEVEL=debug');
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const r of requests) {
    if (seen.has(r.path)) continue;
    seen.add(r.path);
    // The local edge logged the normalised path; Traefik normalises the same way (routes.ts).
    if (normalizeTarget(r.path) === 'rejected') continue;
    const local = localDestination(r);
    // An operator's own server (MCP_<S>_URL or _COMMAND) is not in the Compose stack's catalogue.
    if (r.route === 'service' && !(r.path.split('/')[1]! in CATALOGUE)) continue;
    const traefik = traefikDestination(r.path);
    if (local !== traefik) problems.push(`${r.method} ${r.path}: local edge → ${local}, Traefik → ${traefik}`);
  }
  return problems;
}
