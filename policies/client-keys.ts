import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { unmapIpv4 } from '../proxy/client-address.ts';

// Values that name a client for counting. Accounts and session tokens are
// hashed before they become store keys, so neither an email nor a token is
// ever written to Redis or shown by a key listing.

/**
 * The address a client is counted by: IPv4 as it is (IPv4-mapped IPv6 has
 * been unmapped by the client-address step), IPv6 cut to its first
 * `ipv6PrefixLength` bits, because one subscriber usually holds a whole /64
 * and could otherwise step to a fresh address per request.
 */
export function groupAddress(address: string, ipv6PrefixLength: number): string {
  const ip = unmapIpv4(address);
  if (isIP(ip) !== 6) return ip;
  const hextets = expandIpv6(ip);
  if (!hextets) return ip;
  const bits = Math.min(Math.max(ipv6PrefixLength, 0), 128);
  const kept = hextets.map((hextet, index) => {
    const start = index * 16;
    if (start + 16 <= bits) return hextet;
    if (start >= bits) return 0;
    const keep = bits - start;
    return hextet & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${kept.map((hextet) => hextet.toString(16)).join(':')}/${bits}`;
}

function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0] ?? '';
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    const high = ((a << 8) | b).toString(16);
    const low = ((c << 8) | d).toString(16);
    text = `${text.slice(0, v4.index)}${high}:${low}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return undefined;
  const all = [...left, ...new Array<string>(missing).fill('0'), ...right];
  return all.map((part) => Number.parseInt(part, 16));
}

const sessionCookieNames = new Set([
  'better-auth.session_token',
  '__Secure-better-auth.session_token',
]);

// A browser holds one session cookie, two at most (with and without the
// __Secure- prefix). Past this many, every request shares one key.
const maxSessionTokens = 4;
const manySessions = hashKey('\0many session cookies');

/**
 * The app's sessions a request carries, each as a hash of its token (the part
 * before the signature). The app reads one of them, and a client can add
 * others at will: a key made of all of them together would be a fresh key
 * per request, so each is counted on its own.
 */
export function sessionsOf(headers: IncomingHttpHeaders): string[] {
  const cookie = headers.cookie;
  if (!cookie) return [];
  const tokens = new Set<string>();
  for (const pair of cookie.split(';')) {
    const at = pair.indexOf('=');
    if (at <= 0 || !sessionCookieNames.has(pair.slice(0, at).trim())) continue;
    const value = safeDecode(pair.slice(at + 1).trim());
    const token = value.split('.')[0];
    if (token) tokens.add(token);
  }
  if (tokens.size > maxSessionTokens) return [manySessions];
  return [...tokens].map(hashKey);
}

export function hashKey(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
