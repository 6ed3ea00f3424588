/**
 * Who is calling, as the gateway's edge says (design.md "What a service receives"). Services
 * contain no auth code: they trust these headers because only the edge can reach them. Values
 * outside printable ASCII arrive percent-encoded (auth/src/verify/decision.ts `headerSafe`).
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface CallerIdentity {
  id: string;
  login: string;
  name: string;
  email: string;
  provider: string;
  clientId: string;
}

const header = (headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, name: string): string => {
  const value = headers[name];
  const text = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

export function callerIdentity(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): CallerIdentity {
  return {
    id: header(headers, 'x-user-id'),
    login: header(headers, 'x-user-login'),
    name: header(headers, 'x-user-name'),
    email: header(headers, 'x-user-email'),
    provider: header(headers, 'x-user-provider'),
    clientId: header(headers, 'x-client-id'),
  };
}
