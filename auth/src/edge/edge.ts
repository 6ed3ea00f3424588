/**
 * The in-process edge of `npm start`: what Traefik does in the Compose stack, on one port, from
 * the same two descriptions — the route table (routes.ts: auth paths to the auth service,
 * `/<service>/mcp` to the service, /verify, /metrics and /health never from outside, anything
 * else 404) and the chain (chain.ts: CORS → strip client identity → the /verify decision →
 * strip Authorization and Cookie → strip `/<service>`).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isStorageOutage } from '../storage/outage.ts';
import type { Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import type { VerifyDecider, VerifyRequest } from '../verify/decision.ts';
import { writeDecision } from '../verify/handler.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import { chainOf, isPreflight, preflightHeaders, responseCorsHeaders, withVaryOrigin } from './chain.ts';
import { proxy, withoutHopByHop, type Upstream } from './proxy.ts';
import { remoteRequest } from './remote.ts';
import { jsonRpcError } from '../../../contracts/jsonrpc-error.ts';
import { limitLogOf } from '../../../contracts/limit-log.ts';
import { hasBody, MCP_BODY_LIMIT, mcpRequest, readMcpBody, TOO_LARGE_BODY } from './mcp-body.ts';
import { normalizeTarget, routeOf, ROUTING_ANSWERS } from './routes.ts';

export interface EdgeOptions {
  config: Config;
  decider: VerifyDecider;
  /** The auth service's own handler (Express app). */
  auth: (req: IncomingMessage, res: ServerResponse) => void;
  upstreams: ReadonlyMap<string, Upstream>;
  /** Remote MCP servers with an authorization of their own (the auth service's). */
  remotes?: Upstreams;
  logger: Logger;
}

function json(res: ServerResponse, status: number, body: object, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    .end(text);
}

/** An answer's headers with the chain's CORS added (Traefik: set after the backend answers). */
function withCors(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const vary = headers.vary;
  return {
    ...headers,
    ...responseCorsHeaders(),
    vary: withVaryOrigin(Array.isArray(vary) ? vary.join(',') : vary?.toString()),
  };
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/**
 * Request headers with `_` in their name are dropped, as Traefik's entry point does
 * (underscoreHeadersStrategy: delete, traefik/traefik.yml): many backends (CGI, WSGI, PHP, nginx)
 * read `X_User_Id` as `X-User-Id`, which the chain would otherwise never have stripped.
 */
function dropUnderscoreHeaders(req: IncomingMessage): void {
  for (const name of Object.keys(req.headers)) if (name.includes('_')) delete req.headers[name];
}

export function createEdge(options: EdgeOptions) {
  const { config, decider, upstreams, logger } = options;
  const proto = new URL(config.publicUrl).protocol.replace(':', '');
  const services = new Set(config.services.map((s) => s.name));
  const byName = new Map(config.services.map((s) => [s.name, s]));
  const debug = logger.isLevelEnabled('debug');

  /** The request a service receives: what the chain left of the client's, plus the edge's own. */
  function forwarded(req: IncomingMessage): IncomingHttpHeaders {
    const headers = withoutHopByHop(req.headers);
    headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-proto'] = proto;
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    return headers;
  }

  /** A remote server is addressed as itself: its Host, and nothing about the gateway's clients. */
  function toRemote(req: IncomingMessage, upstream: Upstream): IncomingHttpHeaders {
    const headers = withoutHopByHop(req.headers);
    const port = upstream.port === (upstream.tls ? 443 : 80) ? '' : `:${upstream.port}`;
    headers.host = `${upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host}${port}`;
    return headers;
  }

  async function serviceRequest(req: IncomingMessage, res: ServerResponse, name: string, path: string) {
    const upstream = upstreams.get(name);
    const serviceConfig = byName.get(name);
    let target = path;
    let accepted: Awaited<ReturnType<VerifyDecider['decide']>> | undefined;
    const withheld: string[] = [];
    // A body is read whole: the decision judges a POST's MCP headers by it (verify/mcp-headers.ts),
    // and a remote server's request may be sent twice (remote.ts).
    const body = hasBody(req) ? await readMcpBody(req) : Buffer.alloc(0);
    if (body === 'too large') {
      limitLogOf(logger).hit('MCP request body size', req.socket.remoteAddress ?? '-', {
        maxBytes: MCP_BODY_LIMIT,
        service: name,
      });
      json(res, 413, TOO_LARGE_BODY, withCors({}));
      return;
    }
    for (const step of chainOf(serviceConfig ?? {})) {
      switch (step.step) {
        case 'cors':
          if (isPreflight(req.method, req.headers)) {
            res.writeHead(200, { ...preflightHeaders(), 'content-length': 0 }).end();
            return;
          }
          break;
        case 'strip':
          for (const h of step.headers) delete req.headers[h];
          break;
        case 'forward-auth': {
          const request: VerifyRequest = {
            method: req.method ?? 'GET',
            uri: req.url ?? '',
            host: req.headers.host,
            authorization: req.headers.authorization,
            origin: first(req.headers.origin),
            ...(req.method === 'POST' ? { mcp: mcpRequest(req.headers, body) } : {}),
          };
          const decision = await decider.decide(request);
          decider.log(decision, request);
          if (decision.status !== 200) {
            writeDecision(res, { ...decision, headers: withCors(decision.headers) as Record<string, string> });
            return;
          }
          for (const h of step.responseHeaders) delete req.headers[h];
          Object.assign(req.headers, decision.headers);
          accepted = decision;
          break;
        }
        case 'strip-prefix':
          target = path.slice(name.length + 1);
          break;
        case 'strip-answer':
          withheld.push(...step.headers);
          break;
      }
    }
    if (!upstream) {
      json(res, 502, jsonRpcError(-32000, 'MCP service is not running'), withCors({}));
      return;
    }
    const remote = serviceConfig?.remote?.auth ? options.remotes?.get(name) : undefined;
    if (remote && accepted?.claims) {
      await remoteRequest(req, res, {
        name,
        upstream,
        service: remote,
        userId: accepted.claims.sub,
        path: target,
        headers: toRemote(req, upstream),
        challenge: { resource_metadata: serviceConfig!.metadataUrl, scope: serviceConfig!.scopes.join(' ') },
        answerHeaders: withCors,
        withheld,
        body,
        logger,
      });
      return;
    }
    proxy(req, res, upstream, target, upstream.remote ? toRemote(req, upstream) : forwarded(req), {
      body,
      answerHeaders: withCors,
      onError: (err) =>
        logger.warn(
          { service: name, err: { code: (err as NodeJS.ErrnoException).code, message: err.message } },
          'MCP service request failed',
        ),
    });
  }

  return function edge(req: IncomingMessage, res: ServerResponse): void {
    dropUnderscoreHeaders(req);
    const target = normalizeTarget(req.url ?? '/');
    if (target === 'rejected') {
      json(res, ROUTING_ANSWERS.badTarget.status, ROUTING_ANSWERS.badTarget.body);
      return;
    }
    const route = routeOf(target.path, services);
    // Where each path went, for an operator debugging routing (and for the tests, which check
    // every path their clients requested against the Traefik rules: tests/support/stack.ts).
    if (debug) logger.debug({ method: req.method, path: target.path, route: route.to }, 'edge routed');
    switch (route.to) {
      case 'internal':
      case 'none':
        json(res, ROUTING_ANSWERS.notFound.status, ROUTING_ANSWERS.notFound.body);
        return;
      case 'auth':
        // Every edge forwards the path it routed, never another spelling of it.
        req.url = target.path + target.query;
        options.auth(req, res);
        return;
      case 'service':
        req.url = target.path + target.query;
        serviceRequest(req, res, route.service, req.url).catch((err: unknown) => {
          // Storage unreachable is said once by the store; anything else is a bug, with its trace.
          if (isStorageOutage(err)) logger.debug({ reason: (err as Error).message }, 'edge: storage unreachable');
          else logger.error({ err }, 'edge failed');
          if (!res.headersSent)
            json(
              res,
              ROUTING_ANSWERS.unavailable.status,
              ROUTING_ANSWERS.unavailable.body,
              ROUTING_ANSWERS.unavailable.headers,
            );
          else res.destroy();
        });
    }
  };
}
