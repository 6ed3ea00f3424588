/**
 * The settings of a service that is a remote MCP server (`MCP_<S>_URL`), validated per service
 * and reported with every other problem at once (load.ts). The contract is the section "Remote MCP
 * servers and their own authorization" of the design: `MCP_<S>_AUTH`, the client's credentials
 * (secret, private key, certificate), explicit endpoints for upstreams that publish no metadata,
 * scope, timeout and identity headers. Key and certificate files are read and parsed here, so a
 * file that does not parse stops the gateway at startup, not at the first request.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isLoopbackHost } from '../../../contracts/loopback.ts';
import {
  REMOTE_SERVICE_SETTINGS,
  serviceSettingName,
  UPSTREAM_AUTH_MODES,
  TOKEN_AUTH_METHODS,
  type UpstreamAuthMode,
} from './schema.ts';

export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number];

/** How the gateway authenticates at the upstream's token endpoint, as configured. */
export type ConfiguredClientAuth =
  | { method: 'none' }
  | { method: 'client_secret_basic' | 'client_secret_post'; secret: string }
  | { method: 'private_key_jwt'; key: KeyObject }
  | { method: 'tls_client_auth'; cert: string; key: string; ca?: string };

export interface UpstreamAuthConfig {
  mode: Exclude<UpstreamAuthMode, 'none'>;
  /** A pre-registered client; absent for `user`: CIMD or RFC 7591 registration (upstream/registration.ts). */
  client?: { clientId: string; auth: ConfiguredClientAuth };
  /** MCP_<S>_SCOPE, space-separated. */
  scope?: string;
  /** MCP_<S>_AUTHORIZATION_URL and MCP_<S>_TOKEN_URL: no discovery. */
  endpoints?: { authorization?: string; token: string };
}

export interface RemoteConfig {
  /** MCP_<S>_URL. */
  url: string;
  /** Time allowed for the upstream's answer to begin, in ms (MCP_<S>_TIMEOUT). */
  timeoutMs: number;
  /** X-User-* headers to the upstream: MCP_<S>_IDENTITY_HEADERS, default true only without AUTH. */
  identityHeaders: boolean;
  /** TLS trust for the upstream and its authorization server (MCP_<S>_CA), PEM. */
  ca?: string;
  auth?: UpstreamAuthConfig;
}

/** MCP_<S>_TIMEOUT's default, as the schema documents it. */
export const DEFAULT_TIMEOUT_S = Number(REMOTE_SERVICE_SETTINGS.find((s) => s.suffix === 'TIMEOUT')!.default);

/** https, or http to a loopback host only (design: upstream URLs; OAuth 2.1 §1.5). */
function secureUrl(text: string, name: string, problems: string[], allowQuery = false): string | undefined {
  const url = URL.parse(text);
  const ok =
    url &&
    (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) &&
    !url.hash &&
    !url.username &&
    !url.password &&
    (allowQuery || !url.search);
  if (!ok) {
    problems.push(
      `${name}=${JSON.stringify(text)}: must be an https:// URL (http:// only to a loopback host), without credentials${allowQuery ? '' : ', query'} or fragment.`,
    );
    return undefined;
  }
  return url.href;
}

function readPem(path: string, name: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(
      `${name}=${JSON.stringify(path)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
    return undefined;
  }
}

function privateKey(path: string, name: string, problems: string[]): KeyObject | undefined {
  const pem = readPem(path, name, problems);
  if (pem === undefined) return undefined;
  try {
    const key = createPrivateKey(pem);
    const type = key.asymmetricKeyType;
    const curve = key.asymmetricKeyDetails?.namedCurve;
    // RFC 7518 §3.1: RS256, or ES256/384/512 on their curves (client-auth.ts signingAlgorithm).
    if (type !== 'rsa' && !(type === 'ec' && ['prime256v1', 'secp384r1', 'secp521r1'].includes(curve ?? ''))) {
      problems.push(
        `${name}: an RSA or P-256/P-384/P-521 EC private key is needed, not ${type}${curve ? ` ${curve}` : ''}.`,
      );
      return undefined;
    }
    return key;
  } catch {
    problems.push(`${name}=${JSON.stringify(path)}: not a PEM private key.`);
    return undefined;
  }
}

function certificate(path: string, name: string, problems: string[]): string | undefined {
  const pem = readPem(path, name, problems);
  if (pem === undefined) return undefined;
  try {
    new X509Certificate(pem);
    return pem;
  } catch {
    problems.push(`${name}=${JSON.stringify(path)}: not a PEM certificate.`);
    return undefined;
  }
}

/**
 * The remote settings of service `name` whose MCP_<S>_URL is `urlText`, or undefined after a
 * problem. `env`: the environment; `publicUrl`: the gateway's origin.
 */
export function parseRemote(
  env: NodeJS.ProcessEnv,
  name: string,
  urlText: string,
  problems: string[],
): RemoteConfig | undefined {
  const setting = (suffix: string) => serviceSettingName(name, suffix);
  const get = (suffix: string): string | undefined => {
    const v = env[setting(suffix)]?.trim();
    return v ? v : undefined;
  };
  const before = problems.length;

  const url = secureUrl(urlText, setting('URL'), problems);
  const modeText = (get('AUTH') ?? 'none').toLowerCase();
  const mode = (UPSTREAM_AUTH_MODES as readonly string[]).includes(modeText)
    ? (modeText as UpstreamAuthMode)
    : undefined;
  if (!mode)
    problems.push(
      `${setting('AUTH')}=${JSON.stringify(get('AUTH'))}: must be one of ${UPSTREAM_AUTH_MODES.join(', ')}.`,
    );

  const timeoutText = get('TIMEOUT');
  let timeoutMs = DEFAULT_TIMEOUT_S * 1000;
  if (timeoutText !== undefined) {
    const s = /^\d+$/.test(timeoutText) ? Number(timeoutText) : NaN;
    if (!(s >= 1 && s <= 3600))
      problems.push(
        `${setting('TIMEOUT')}=${JSON.stringify(timeoutText)}: a whole number of seconds between 1 and 3600.`,
      );
    else timeoutMs = s * 1000;
  }
  const identityText = get('IDENTITY_HEADERS')?.toLowerCase();
  if (identityText !== undefined && !['true', 'false', '1', '0', 'yes', 'no'].includes(identityText)) {
    problems.push(`${setting('IDENTITY_HEADERS')}: must be true or false.`);
  }
  const identityHeaders = identityText === undefined ? mode === 'none' : ['true', '1', 'yes'].includes(identityText);
  const caPath = get('CA');
  const ca = caPath === undefined ? undefined : certificate(caPath, setting('CA'), problems);

  // Credentials and endpoints: meaningful only with AUTH; set without it, they are a mistake.
  const clientId = get('CLIENT_ID');
  const secret = get('CLIENT_SECRET');
  const keyPath = get('CLIENT_KEY');
  const certPath = get('CLIENT_CERT');
  const certKeyPath = get('CLIENT_CERT_KEY');
  const methodText = get('TOKEN_AUTH_METHOD');
  const authorizationUrlText = get('AUTHORIZATION_URL');
  const tokenUrlText = get('TOKEN_URL');
  const scope = get('SCOPE');

  let auth: UpstreamAuthConfig | undefined;
  if (mode === 'none') {
    const stray = REMOTE_SERVICE_SETTINGS.filter((s) => s.withAuth)
      .map((s) => s.suffix)
      .filter((s) => get(s) !== undefined);
    if (stray.length) {
      problems.push(
        `${stray.map(setting).join(', ')}: only used with ${setting('AUTH')}=user or client_credentials; set that, or remove them.`,
      );
    }
  } else if (mode) {
    if (scope !== undefined && !/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)) {
      problems.push(`${setting('SCOPE')}: scopes separated by single spaces (RFC 6749 §3.3).`);
    }
    const method = methodText as TokenAuthMethod | undefined;
    if (method !== undefined && !(TOKEN_AUTH_METHODS as readonly string[]).includes(method)) {
      problems.push(
        `${setting('TOKEN_AUTH_METHOD')}=${JSON.stringify(methodText)}: must be one of ${TOKEN_AUTH_METHODS.join(', ')}.`,
      );
    }
    if ((secret || keyPath || certPath) && !clientId) {
      problems.push(`${setting('CLIENT_ID')}: needed with the client's secret, key or certificate.`);
    }
    if (!!certPath !== !!certKeyPath)
      problems.push(`${setting('CLIENT_CERT')} and ${setting('CLIENT_CERT_KEY')}: set both or neither.`);
    const given = [secret && 'a secret', keyPath && 'a private key', certPath && 'a certificate'].filter(Boolean);
    if (given.length > 1 && !method) {
      problems.push(
        `${setting('CLIENT_SECRET')}, ${setting('CLIENT_KEY')}, ${setting('CLIENT_CERT')}: ${given.join(' and ')} are set; choose with ${setting('TOKEN_AUTH_METHOD')}.`,
      );
    }
    let clientAuth: ConfiguredClientAuth | undefined;
    const chosen: TokenAuthMethod | undefined =
      method ??
      (keyPath
        ? 'private_key_jwt'
        : certPath
          ? 'tls_client_auth'
          : secret
            ? 'client_secret_basic'
            : clientId
              ? 'none'
              : undefined);
    switch (chosen) {
      case 'client_secret_basic':
      case 'client_secret_post':
        if (!secret) problems.push(`${setting('TOKEN_AUTH_METHOD')}=${chosen} needs ${setting('CLIENT_SECRET')}.`);
        else clientAuth = { method: chosen, secret };
        break;
      case 'private_key_jwt': {
        if (!keyPath)
          problems.push(
            `${setting('TOKEN_AUTH_METHOD')}=private_key_jwt needs ${setting('CLIENT_KEY')} (a PEM private key file).`,
          );
        const key = keyPath ? privateKey(keyPath, setting('CLIENT_KEY'), problems) : undefined;
        if (key) clientAuth = { method: chosen, key };
        break;
      }
      case 'tls_client_auth': {
        if (!certPath || !certKeyPath) {
          problems.push(
            `${setting('TOKEN_AUTH_METHOD')}=tls_client_auth needs ${setting('CLIENT_CERT')} and ${setting('CLIENT_CERT_KEY')}.`,
          );
          break;
        }
        const cert = certificate(certPath, setting('CLIENT_CERT'), problems);
        const key = privateKey(certKeyPath, setting('CLIENT_CERT_KEY'), problems);
        if (cert && key)
          clientAuth = { method: chosen, cert, key: readFileSync(certKeyPath, 'utf8'), ...(ca ? { ca } : {}) };
        break;
      }
      case 'none':
        if (mode === 'client_credentials') {
          problems.push(
            `${setting('AUTH')}=client_credentials: a machine token needs the client's credentials: ${setting('CLIENT_SECRET')}, ${setting('CLIENT_KEY')} (private_key_jwt), or ${setting('CLIENT_CERT')} and ${setting('CLIENT_CERT_KEY')} (mutual TLS).`,
          );
        } else clientAuth = { method: 'none' };
        break;
      case undefined:
        if (mode === 'client_credentials') {
          problems.push(
            `${setting('AUTH')}=client_credentials needs ${setting('CLIENT_ID')} and the client's credentials.`,
          );
        }
    }

    const authorization = authorizationUrlText
      ? secureUrl(authorizationUrlText, setting('AUTHORIZATION_URL'), problems, true)
      : undefined;
    const token = tokenUrlText ? secureUrl(tokenUrlText, setting('TOKEN_URL'), problems) : undefined;
    let endpoints: UpstreamAuthConfig['endpoints'];
    if (mode === 'user' && !!authorizationUrlText !== !!tokenUrlText) {
      problems.push(
        `${setting('AUTHORIZATION_URL')} and ${setting('TOKEN_URL')}: set both (an upstream without metadata) or neither (discovery).`,
      );
    } else if (mode === 'client_credentials' && authorizationUrlText) {
      problems.push(
        `${setting('AUTHORIZATION_URL')}: not used by client_credentials; only ${setting('TOKEN_URL')} is.`,
      );
    } else if (token) {
      endpoints = { token, ...(authorization ? { authorization } : {}) };
    }
    // Without metadata there is no registration endpoint and no Client ID Metadata Document
    // support to find: the client must be pre-registered.
    if (mode === 'user' && endpoints && !clientId) {
      problems.push(
        `${setting('CLIENT_ID')}: an upstream given by ${setting('AUTHORIZATION_URL')} and ${setting('TOKEN_URL')} publishes no metadata, so the gateway cannot register itself: register an OAuth app there and set its client id (and ${setting('CLIENT_SECRET')}).`,
      );
    }
    auth = {
      mode,
      ...(clientId && clientAuth ? { client: { clientId, auth: clientAuth } } : {}),
      ...(scope ? { scope } : {}),
      ...(endpoints ? { endpoints } : {}),
    };
  }
  if (problems.length > before || !url) return undefined;
  return { url, timeoutMs, identityHeaders, ...(ca ? { ca } : {}), ...(auth ? { auth } : {}) };
}
