/**
 * Which IP addresses the fetch tool may connect to. Everything that is not plainly public is
 * refused: the service runs inside the deployment, next to the gateway, Redis and cloud
 * metadata endpoints, so a fetch of an internal address is a server-side request forgery.
 * Ranges follow the IANA special-purpose address registries (RFC 6890 and its updates).
 */
import { BlockList, isIP } from 'node:net';

interface Range {
  list: BlockList;
  what: string;
}

function range(network: string, prefix: number, what: string): Range {
  const list = new BlockList();
  list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return { list, what };
}

const IPV4_SPECIAL = [
  range('0.0.0.0', 8, 'a "this network" address (RFC 791, RFC 1122)'),
  range('10.0.0.0', 8, 'a private address (RFC 1918)'),
  range('100.64.0.0', 10, 'a carrier-grade NAT address (RFC 6598)'),
  range('127.0.0.0', 8, 'a loopback address (RFC 1122)'),
  range('169.254.0.0', 16, 'a link-local address (RFC 3927), where cloud metadata services live'),
  range('172.16.0.0', 12, 'a private address (RFC 1918)'),
  range('192.0.0.0', 24, 'an IETF protocol assignment (RFC 6890)'),
  range('192.0.2.0', 24, 'a documentation address (RFC 5737)'),
  range('192.88.99.0', 24, 'a 6to4 relay anycast address (RFC 7526)'),
  range('192.168.0.0', 16, 'a private address (RFC 1918)'),
  range('198.18.0.0', 15, 'a benchmarking address (RFC 2544)'),
  range('198.51.100.0', 24, 'a documentation address (RFC 5737)'),
  range('203.0.113.0', 24, 'a documentation address (RFC 5737)'),
  range('224.0.0.0', 4, 'a multicast address (RFC 5771)'),
  range('240.0.0.0', 4, 'a reserved or broadcast address (RFC 1112, RFC 919)'),
];

/** IPv6 outside global unicast 2000::/3 (RFC 4291 section 2.4) is refused whatever it is; named here for messages. */
const IPV6_NOT_GLOBAL = [
  range('::', 128, 'the unspecified address (RFC 4291)'),
  range('::1', 128, 'the loopback address (RFC 4291)'),
  range('100::', 64, 'a discard-only address (RFC 6666)'),
  range('fc00::', 7, 'a unique-local address (RFC 4193)'),
  range('fe80::', 10, 'a link-local address (RFC 4291)'),
  range('ff00::', 8, 'a multicast address (RFC 4291)'),
];
const IPV6_GLOBAL_UNICAST = range('2000::', 3, 'global unicast (RFC 4291)');

/** Special blocks inside 2000::/3. */
const IPV6_SPECIAL = [
  range('2001::', 23, 'an IETF protocol assignment, Teredo included (RFC 2928, RFC 4380)'),
  range('2001:db8::', 32, 'a documentation address (RFC 3849)'),
  range('2002::', 16, 'a 6to4 address, which may embed any IPv4 address (RFC 3056)'),
  range('3fff::', 20, 'a documentation address (RFC 9637)'),
];

/** IPv6 prefixes whose last 32 bits are an IPv4 address: judged by that address. */
const IPV4_EMBEDDING = [
  range('::ffff:0:0', 96, 'IPv4-mapped (RFC 4291 section 2.5.5.2)'),
  range('64:ff9b::', 96, 'NAT64 well-known prefix (RFC 6052), what DNS64 returns on IPv6-only hosts'),
];

const match = (ranges: Range[], address: string, family: 'ipv4' | 'ipv6') =>
  ranges.find((r) => r.list.check(address, family))?.what;

/** Why the fetch tool must not connect to `address`, or undefined when it is a public address. */
export function specialAddressReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return match(IPV4_SPECIAL, address, 'ipv4');
  if (family !== 6) return 'not an IP address';
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1); // compressed, hex, no zone id
  } catch {
    return 'not a plain IPv6 address';
  }
  if (match(IPV4_EMBEDDING, canonical, 'ipv6')) {
    const reason = specialAddressReason(lowIPv4(canonical));
    return reason && `${reason}, embedded in an IPv6 address`;
  }
  if (!IPV6_GLOBAL_UNICAST.list.check(canonical, 'ipv6')) {
    return match(IPV6_NOT_GLOBAL, canonical, 'ipv6') ?? 'not a global unicast address (RFC 4291)';
  }
  return match(IPV6_SPECIAL, canonical, 'ipv6');
}

/** The last 32 bits of a canonical (WHATWG-serialised) IPv6 address, as dotted IPv4. */
function lowIPv4(canonical: string): string {
  const groups = canonical.split(':');
  const high = parseInt(groups.at(-2) || '0', 16);
  const low = parseInt(groups.at(-1) || '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/**
 * Parses the MCP_FETCH_ALLOW_ADDRESSES exceptions: comma-separated IPs or CIDRs
 * (`10.1.2.3, 192.168.0.0/16, fd00::/8`). Throws on a malformed entry.
 */
export function parseAllowList(text: string): BlockList {
  const list = new BlockList();
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const bits = prefix === undefined ? max : Number(prefix);
    if (!family || !Number.isInteger(bits) || bits < 0 || bits > max) {
      throw new Error(`MCP_FETCH_ALLOW_ADDRESSES: not an IP address or CIDR: ${entry}`);
    }
    list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}
