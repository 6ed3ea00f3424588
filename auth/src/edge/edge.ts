/**
 * The in-process edge of `npm start`: what Traefik does in the Compose stack, on one port.
 * The same routes (auth paths to the auth service, `/<service>/mcp` to the service with
 * `/<service>` stripped, /verify and /metrics never from outside) and, for a service request,
 * the same chain: strip client identity headers → the /verify decision → strip Authorization
 * → CORS; plus the Origin check MCP asks of servers (DNS rebinding).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost, type Config } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { IDENTITY_HEADERS, type Decision, type VerifyDecider } from '../verify/decision.ts';
import { writeDecision } from '../verify/handler.ts';
import { proxy, withoutHopByHop, type Upstream } from './proxy.ts';

export interface EdgeOptions {
  config: Config;
  decider: VerifyDecider;
  /** The auth service's own handler (Express app). */
  auth: (req: IncomingMessage, res: ServerResponse) => void;
  upstreams: ReadonlyMap<string, Upstream>;
  logger: Logger;
}

const SERVICE_PATH = /^\/([a-z][a-z0-9-]{0,62})(\/mcp(?:[/?#].*)?)$/;
const INTERNAL = /^\/(verify|metrics)(?:[/?#]|$)/;

/** The CORS answer the Traefik `mcp-cors` middleware gives (traefik/dynamic/middlewares.yml). */
const CORS = {
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-headers':
    'Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name',
  'access-control-expose-headers': 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate',
  'access-control-max-age': '600',
};

function json(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    .end(text);
}

export function createEdge(options: EdgeOptions) {
  const { config, decider, upstreams } = options;
  const publicOrigin = new URL(config.publicUrl).origin;
  const loopbackGateway = isLoopbackHost(new URL(config.publicUrl).hostname);

  /** MCP transport security: refuse browser requests from origins that are not ours (DNS rebinding). */
  function originAllowed(origin: string | undefined): boolean {
    if (origin === undefined) return true; // not a browser, or same-origin navigation
    if (origin === publicOrigin || config.allowedOrigins.has(origin)) return true;
    const url = URL.parse(origin);
    return loopbackGateway && url !== null && url.protocol === 'http:' && isLoopbackHost(url.hostname);
  }

  function corsHeaders(origin: string | undefined): Record<string, string> {
    return origin ? { ...CORS, 'access-control-allow-origin': origin, vary: 'Origin' } : {};
  }

  /** Client headers as the service must see them: no Authorization, no forged identity, none hop-by-hop. */
  function upstreamHeaders(req: IncomingMessage, decision: Decision): IncomingHttpHeaders {
    const headers = withoutHopByHop(req.headers);
    delete headers.authorization;
    Object.assign(headers, decision.headers);
    headers['x-forwarded-host'] = req.headers.host;
    headers['x-forwarded-proto'] = new URL(config.publicUrl).protocol.replace(':', '');
    headers['x-forwarded-for'] = req.socket.remoteAddress;
    return headers;
  }

  async function serviceRequest(req: IncomingMessage, res: ServerResponse, name: string, rest: string) {
    // 1. Identity headers come from the decision only, never from the client.
    for (const h of IDENTITY_HEADERS) delete req.headers[h];
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (!originAllowed(origin)) {
      options.logger.info({ origin, service: name }, 'origin refused');
      json(res, 403, { error: 'access_denied', error_description: 'this origin may not call MCP services' });
      return;
    }
    const cors = corsHeaders(origin);
    // 2. The decision /verify makes.
    const request = {
      method: req.method ?? 'GET',
      uri: req.url ?? '',
      host: req.headers.host,
      authorization: req.headers.authorization,
    };
    const decision = await decider.decide(request);
    decider.log(decision, request);
    if (decision.status !== 200) {
      writeDecision(res, { ...decision, headers: { ...decision.headers, ...cors } });
      return;
    }
    if (request.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return;
    }
    const upstream = upstreams.get(name);
    if (!upstream) {
      json(
        res,
        502,
        { jsonrpc: '2.0', error: { code: -32000, message: 'MCP service is not running' }, id: null },
        cors,
      );
      return;
    }
    // 3. Authorization stripped, identity set, `/<service>` stripped; 4. CORS on the answer.
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    proxy(req, res, upstream, rest, upstreamHeaders(req, decision), (err) =>
      options.logger.warn(
        { service: name, err: { code: (err as NodeJS.ErrnoException).code, message: err.message } },
        'MCP service request failed',
      ),
    );
  }

  return function edge(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (INTERNAL.test(url)) {
      json(res, 404, { error: 'not_found', error_description: 'no such resource' });
      return;
    }
    const match = SERVICE_PATH.exec(url);
    if (match && upstreams.has(match[1]!)) {
      serviceRequest(req, res, match[1]!, match[2]!).catch((err: unknown) => {
        options.logger.error({ err }, 'edge failed');
        if (!res.headersSent)
          json(res, 503, { error: 'temporarily_unavailable', error_description: 'authorization could not be checked' });
        else res.destroy();
      });
      return;
    }
    options.auth(req, res);
  };
}
