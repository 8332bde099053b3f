/** Which addresses webhooks may reach: public ones, plus loopback/private/link-local ones only when allow-listed. */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { ErrorCode, OffloadError } from '../core/errors.js';

/** Non-public ranges: loopback, private, link-local, CGNAT, unspecified, multicast, reserved, NAT64 (IPv4-mapped IPv6 addresses match the IPv4 rules). */
const BLOCKED: [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'], ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'], ['::1', 128, 'ipv6'], ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
];

export interface ResolvedTarget {
  url: URL;
  /** Vetted addresses; the request connects to these and no others (no second DNS answer). */
  addresses: { address: string; family: 4 | 6 }[];
}

export interface AddressPolicy {
  isAllowed(address: string): boolean;
  /** Resolves the URL's host and checks every address; throws WEBHOOK_URL_REJECTED otherwise. */
  check(url: string): Promise<ResolvedTarget>;
}

/** Parses `1.2.3.4`, `10.0.0.0/8`, `::1` or `fd00::/8`; null when it is none of these. */
export function parseAddressRange(entry: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | null {
  const [address, bits] = entry.split('/', 2) as [string, string | undefined];
  const v = isIP(address);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address, prefix, type: v === 4 ? 'ipv4' : 'ipv6' };
}

const reject = (msg: string): OffloadError => new OffloadError(ErrorCode.WEBHOOK_URL_REJECTED, `[offload] webhook URL refused: ${msg}`);

/**
 * @param allow addresses or CIDR ranges that may be reached although not public (e.g. `["127.0.0.1"]` in tests)
 * @example const policy = createAddressPolicy(['10.1.0.0/16']); await policy.check('https://hooks.example.com/x');
 */
export function createAddressPolicy(allow: readonly string[] = []): AddressPolicy {
  const blocked = new BlockList();
  for (const [a, p, t] of BLOCKED) blocked.addSubnet(a, p, t);
  const allowed = new BlockList();
  for (const entry of allow) {
    const r = parseAddressRange(entry);
    if (!r) throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] "${entry}" is not an IP address or CIDR range`);
    allowed.addSubnet(r.address, r.prefix, r.type);
  }
  const isAllowed = (address: string): boolean => {
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    return allowed.check(address, type) || !blocked.check(address, type);
  };
  return {
    isAllowed,
    async check(raw) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw reject(`"${raw}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw reject(`scheme ${url.protocol} (expected http or https)`);
      if (url.username || url.password) throw reject('credentials in the URL are not allowed');
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      let addresses: { address: string; family: 4 | 6 }[];
      if (isIP(host)) {
        addresses = [{ address: host, family: isIP(host) as 4 | 6 }];
      } else {
        try {
          addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
        } catch (err) {
          throw reject(`host "${host}" does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        }
      }
      if (addresses.length === 0) throw reject(`host "${host}" does not resolve`);
      const bad = addresses.find((a) => !isAllowed(a.address));
      if (bad) throw reject(`host "${host}" resolves to ${bad.address}, a loopback, private or link-local address (allow it with webhooks.allowAddresses)`);
      return { url, addresses };
    },
  };
}
