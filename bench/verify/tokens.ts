/**
 * Access tokens as the provider issues them (auth/src/oidc/provider.ts: RFC 9068 JWT, RS256,
 * typ at+jwt, the current key's kid; claims iss, aud, sub, client_id, jti, iat, exp, scope, plus
 * extraTokenClaims gid, idp, preferred_username, name), signed with the service's own signing key
 * (passed to it as SIGNING_KEY). RSA signing costs ~1 ms, so a pool is signed on every core,
 * in worker threads running this same file.
 */
import { availableParallelism } from 'node:os';
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isMainThread, parentPort, workerData, Worker } from 'node:worker_threads';
import { calculateJwkThumbprint, type JWK } from 'jose';

export interface SigningKey {
  pem: string;
  /** RFC 7638 thumbprint, as auth/src/oidc/keys.ts names keys. */
  kid: string;
}

/** What a token carries besides its own jti, gid, iat and exp. */
export interface TokenTemplate {
  iss: string;
  aud: string;
  sub: string;
  client_id: string;
  scope: string;
  idp: string;
  preferred_username: string;
  name: string;
}

export interface TokenSpec {
  jti: string;
  gid: string;
}

interface MintJob {
  key: SigningKey;
  template: TokenTemplate;
  specs: TokenSpec[];
  iat: number;
  exp: number;
}

export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { pem, kid: await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK) };
}

/** 43 characters of base64url, like oidc-provider's ids. */
export const randomId = (): string => randomBytes(32).toString('base64url');

const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function mint(job: MintJob): string[] {
  const key = createPrivateKey(job.key.pem);
  const header = b64({ alg: 'RS256', typ: 'at+jwt', kid: job.key.kid });
  return job.specs.map(({ jti, gid }) => {
    const { iss, aud, sub, client_id, scope, idp, preferred_username, name } = job.template;
    const claims = { iss, aud, sub, client_id, jti, iat: job.iat, exp: job.exp, scope };
    const input = `${header}.${b64({ ...claims, gid, idp, preferred_username, name })}`;
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  });
}

/** Signs one token per spec, split across the cores; the order of `specs` is kept. */
export async function mintTokens(
  key: SigningKey,
  template: TokenTemplate,
  specs: TokenSpec[],
  lifetime: number,
): Promise<string[]> {
  const iat = Math.floor(Date.now() / 1000);
  const workers = Math.min(availableParallelism(), Math.ceil(specs.length / 1000));
  if (workers <= 1) return mint({ key, template, specs, iat, exp: iat + lifetime });
  const size = Math.ceil(specs.length / workers);
  const parts = Array.from({ length: workers }, (_, i) => {
    const job: MintJob = { key, template, specs: specs.slice(i * size, (i + 1) * size), iat, exp: iat + lifetime };
    return new Promise<string[]>((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: job });
      worker.once('message', resolve).once('error', reject);
    });
  });
  return (await Promise.all(parts)).flat();
}

if (!isMainThread && parentPort) parentPort.postMessage(mint(workerData as MintJob));
