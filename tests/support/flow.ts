/** One authorization-code flow, parameterised, for tests that vary a single thing. */
import {
  authorizeUrl,
  pkce,
  registerOk,
  tokenRequest,
  type ClientAuth,
  type Registered,
  type TokenResponse,
} from './oauth.ts';
import { Person, type AuthorizeOptions } from './person.ts';
import type { GitHubStandin } from './github-standin.ts';

export interface FlowOptions {
  base: string;
  github?: GitHubStandin;
  /** Registration metadata; a public loopback client by default. */
  metadata?: Record<string, unknown>;
  /** Already registered client (skips registration). */
  client?: Registered;
  /** Overrides of authorization parameters (undefined removes one). */
  params?: Record<string, string | string[] | undefined>;
  /** Overrides of token request parameters. */
  tokenParams?: Record<string, string | undefined>;
  person?: Person;
  authorize?: AuthorizeOptions;
}

export interface FlowResult {
  client: Registered;
  auth: ClientAuth;
  redirect: URL;
  verifier: string;
  token?: TokenResponse;
  person: Person;
}

export const DEFAULT_METADATA = {
  client_name: 'Test client',
  redirect_uris: ['http://127.0.0.1:9999/callback'],
  token_endpoint_auth_method: 'none',
};

export function clientAuthOf(client: Registered): ClientAuth {
  const method = (client.token_endpoint_auth_method as string | undefined) ?? 'client_secret_basic';
  if (method === 'none') return { method: 'none', clientId: client.client_id };
  return {
    method: method as 'client_secret_post' | 'client_secret_basic',
    clientId: client.client_id,
    clientSecret: client.client_secret!,
  };
}

/** Registers (unless given a client), authorizes through the pages, and exchanges the code if one came back. */
export async function runFlow(o: FlowOptions): Promise<FlowResult> {
  const client = o.client ?? (await registerOk(o.base, o.metadata ?? DEFAULT_METADATA));
  const { verifier, challenge } = pkce();
  const redirectUri = (client.redirect_uris as string[])[0]!;
  const params: Record<string, string | string[] | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'st4te',
    resource: `${o.base}/echo/mcp`,
    scope: 'mcp',
    ...o.params,
  };
  const person = o.person ?? new Person(o.base, o.github);
  const redirect = await person.authorize(authorizeUrl(o.base, params), o.authorize);
  const auth = clientAuthOf(client);
  const code = redirect.searchParams.get('code');
  const token = code
    ? await tokenRequest(o.base, auth, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: typeof params.redirect_uri === 'string' ? params.redirect_uri : redirectUri,
        code_verifier: verifier,
        resource: typeof params.resource === 'string' ? params.resource : undefined,
        ...o.tokenParams,
      })
    : undefined;
  return { client, auth, redirect, verifier, token, person };
}
