/**
 * Throwaway certificates made with openssl in a directory: a CA, a server certificate for
 * localhost / 127.0.0.1 / this host's name, and client certificates (for mutual TLS), each
 * signed by the CA and valid for a day. Files: ca.pem, server.pem/.key, <name>.pem/.key.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A key and certificate `<name>.key`/`<name>.pem`, signed by the CA, with these X.509 extensions. */
function issue(dir: string, name: string, subject: string, extensions: string[]): void {
  openssl(dir, 'req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  writeFileSync(join(dir, `${name}.ext`), ['basicConstraints=CA:FALSE', ...extensions].join('\n'));
  // prettier-ignore
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
}

/** A CA and a certificate for localhost / 127.0.0.1 signed by it, in `dir`. */
export function makeCertificates(dir: string): void {
  openssl(dir, 'req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test CA');
  issue(dir, 'server', '/CN=localhost', [
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=DNS:localhost,DNS:${hostname()},IP:127.0.0.1,IP:0.0.0.0`,
  ]);
}

/** A client certificate (RFC 8705 mutual TLS) with this common name, signed by the CA of `dir`. */
export function makeClientCertificate(dir: string, name: string, commonName: string): void {
  issue(dir, name, `/CN=${commonName}`, ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
}
