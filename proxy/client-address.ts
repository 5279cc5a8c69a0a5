import { BlockList, isIP } from 'node:net';

export type ClientAddress = {
  /** The client as the guard believes it: the peer, or the first untrusted hop. */
  ip: string;
  /** The TCP peer, in dotted form when it is an IPv4-mapped IPv6 address. */
  peer: string;
  /** True when the peer is a configured trusted proxy. */
  viaTrustedProxy: boolean;
  /** The X-Forwarded-For chain a trusted proxy handed on, to extend; else empty. */
  forwardedChain: readonly string[];
};

export function unmapIpv4(address: string): string {
  if (!address.startsWith('::ffff:') && !address.startsWith('::FFFF:')) return address;
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match?.[1] ?? address;
}

/** The trusted proxies, or undefined when there are none (the common case). */
export function buildTrustList(cidrs: readonly string[]): BlockList | undefined {
  if (cidrs.length === 0) return undefined;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', bits] = cidr.split('/');
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
    list.addSubnet(address, prefix, family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const noChain: readonly string[] = Object.freeze([]);

// X-Forwarded-For is only believed when the peer is a trusted proxy, and then
// read right to left: the right-most entry was written by the nearest proxy and
// each entry left of a trusted hop was written by that hop. The first entry
// not written by a trusted hop is the client. Anything left of it was supplied
// by the client and could be anything, so it is never used.
export function resolveClientAddress(
  trusted: BlockList | undefined,
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
): ClientAddress {
  const peer = unmapIpv4(socketAddress ?? '0.0.0.0');
  if (!trusted || !isTrusted(trusted, peer)) {
    return { ip: peer, peer, viaTrustedProxy: false, forwardedChain: noChain };
  }

  const chain = splitForwardedFor(forwardedFor);
  let ip = peer;
  for (let index = chain.length - 1; index >= 0; index -= 1) {
    const hop = unmapIpv4(chain[index] ?? '');
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!isTrusted(trusted, hop)) break;
  }
  return { ip, peer, viaTrustedProxy: true, forwardedChain: chain };
}

function splitForwardedFor(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}
