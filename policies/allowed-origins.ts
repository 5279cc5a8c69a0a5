import type { CrossOriginConfig } from '../config/edge-schema.ts';

export type AllowedOrigins = {
  /**
   * True when the origin (serialised, lower case) may act on this guard;
   * `host` is the request's Host header.
   */
  has(origin: string, host: string | undefined): boolean;
};

// The origins browsers may act from. Listed ones, or by default the guard's
// own: https:// one of tls.domains, on the port the browser reached it on.
// That port is read from the Host the browser sent with the same request,
// which a forging page cannot choose, so the default holds behind a port
// mapping without naming the public port anywhere.
export function buildAllowedOrigins(
  config: CrossOriginConfig,
  domains: readonly string[],
): AllowedOrigins {
  if (config.allowedOrigins.length > 0) {
    const fixed = new Set(config.allowedOrigins.map((origin) => new URL(origin).origin));
    return { has: (origin) => fixed.has(origin) };
  }
  const names = new Set(domains.map((domain) => bracketed(domain.toLowerCase())));
  return {
    has(origin, host) {
      if (!origin.startsWith('https://') || host === undefined) return false;
      let url: URL;
      let reached: URL;
      try {
        url = new URL(origin);
        reached = new URL(`https://${host}`);
      } catch {
        return false;
      }
      return names.has(url.hostname) && url.port === reached.port;
    },
  };
}

// URL keeps IPv6 hosts in brackets; tls.domains lists them bare.
function bracketed(domain: string): string {
  return domain.includes(':') ? `[${domain}]` : domain;
}

/**
 * The origin a request comes from: its Origin header, or without one, the
 * origin of its Referer. `missing` when it has neither; `opaque` for
 * "null" or a value that is not a URL, which no allow-list can match.
 */
export function originOf(
  headers: Record<string, string | string[] | undefined>,
): string | 'missing' | 'opaque' {
  const origin = headers.origin;
  if (typeof origin === 'string') return serialise(origin);
  if (origin !== undefined) return 'opaque';
  const referer = headers.referer;
  if (typeof referer === 'string') return serialise(referer);
  return referer === undefined ? 'missing' : 'opaque';
}

function serialise(value: string): string | 'opaque' {
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'opaque';
    return url.origin;
  } catch {
    return 'opaque';
  }
}
