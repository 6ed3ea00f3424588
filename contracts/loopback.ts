/**
 * What "loopback" means, once for the auth service, the services and the scripts. Node built-ins
 * only: anything may import this.
 */
import { isIP } from 'node:net';

/**
 * A host (name or IP literal, IPv6 with or without brackets, no port) that reaches this machine
 * only: `localhost` and its subdomains (RFC 6761 §6.3), 127.0.0.0/8, ::1. Where the gateway or a
 * service listens, and whether PUBLIC_URL is local.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (bare === 'localhost' || bare.endsWith('.localhost') || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * A redirect URI host that native clients use for their loopback listener (RFC 8252 §7.3: the IP
 * literals 127.0.0.1 and [::1]; §8.3: `localhost`, which clients use though it is discouraged).
 * Narrower than isLoopbackHost: a registered redirect URI names one of these exactly.
 */
export function isLoopbackRedirectHost(hostname: string): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(hostname.toLowerCase());
}
