/**
 * Who is calling, as the gateway's edge says (docs/edge.md "What a service receives"; contracts/headers.ts). Services
 * contain no auth code: they trust these headers because only the edge can reach them. Values
 * outside printable ASCII arrive percent-encoded (auth/src/verify/decision.ts `headerSafe`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IDENTITY } from '../../contracts/headers.ts';

export interface CallerIdentity {
  id: string;
  login: string;
  name: string;
  email: string;
  provider: string;
  /** X-User-Groups, split and decoded: GitHub `org` and `org/team`, or the OIDC `groups` claim. */
  groups: string[];
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
    id: header(headers, IDENTITY.id),
    login: header(headers, IDENTITY.login),
    name: header(headers, IDENTITY.name),
    email: header(headers, IDENTITY.email),
    provider: header(headers, IDENTITY.provider),
    groups: groupsOf(headers[IDENTITY.groups]),
    clientId: header(headers, IDENTITY.clientId),
  };
}

/** The comma list; each item percent-decoded on its own (a group may hold an encoded comma). */
function groupsOf(value: string | string[] | undefined): string[] {
  const text = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  return text
    .split(',')
    .filter(Boolean)
    .map((item) => {
      try {
        return decodeURIComponent(item);
      } catch {
        return item;
      }
    });
}

/** A fetch Request's headers as Node gives them (lower-case names): what the v2 SDK hands tools. */
export function headersOf(req: { headers: Headers } | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  req?.headers.forEach((value, name) => (out[name] = value));
  return out;
}
