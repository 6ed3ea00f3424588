/**
 * A fetch over node:https for what the global fetch cannot do without undici's own dispatcher: a
 * TLS client certificate (mutual TLS, RFC 8705 §2) and a CA of the operator's (MCP_<S>_CA). Enough
 * for the gateway's own requests to an upstream (metadata, registration, token, revocation):
 * the body is read whole; redirects are not followed (an answer is an answer).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface TlsOptions {
  cert?: string;
  key?: string;
  ca?: string;
}

export function tlsFetch(tls: TlsOptions): typeof fetch {
  return ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => (headers[name] = value));
      const options = {
        method: init.method ?? 'GET',
        headers,
        signal: init.signal ?? undefined,
        ...(url.protocol === 'https:'
          ? {
              ...(tls.cert ? { cert: tls.cert } : {}),
              ...(tls.key ? { key: tls.key } : {}),
              ...(tls.ca ? { ca: tls.ca } : {}),
            }
          : {}),
      };
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const answer = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) answer.append(name, v);
          }
          const status = res.statusCode ?? 502;
          const empty = [101, 204, 205, 304].includes(status);
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers: answer }));
        });
      });
      req.on('error', reject);
      req.end(init.body === undefined || init.body === null ? undefined : String(init.body));
    })) as typeof fetch;
}
