/**
 * Host names of Client ID Metadata Document URLs that are never fetched unless
 * DANGEROUSLY_ALLOW_PRIVATE_CLIENT_METADATA_HOSTS is set: loopback and local names, and literal
 * addresses outside public unicast. This is the early refusal, before any DNS lookup; a name that
 * resolves to such an address is cut at connection time by oidc-provider's SSRF-protected
 * dispatcher (draft-ietf-oauth-client-id-metadata-document-02, Security Considerations:
 * server-side request forgery). Both are shown by tests/e2e/cimd.test.ts.
 */
import { BlockList, isIP } from 'node:net';

const special = new BlockList();
// RFC 6890 special-purpose IPv4 blocks that can reach something on this side of the Internet.
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  special.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127], // unspecified and loopback
  ['64:ff9b::', 96], // NAT64
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link local
  ['ff00::', 8], // multicast
] as const) {
  special.addSubnet(network, prefix, 'ipv6');
}

const LOCAL_NAMES = /(^|\.)(localhost|local|internal|home\.arpa)\.?$/;

/** `hostname` as WHATWG URL gives it: lower case, IPv6 in brackets, IPv4 normalised. */
export function isPrivateMetadataHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  if (family === 4) return special.check(host, 'ipv4');
  if (family === 6) return special.check(host, 'ipv6');
  return LOCAL_NAMES.test(host);
}
