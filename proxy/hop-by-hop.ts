// RFC 9110 section 7.6.1: these fields describe one connection, not the
// message, and a proxy must not pass them on; nor any field the sender names in
// its Connection header. Proxy-Authorization is meant for the guard itself.
export const hopByHop: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

// Fields a client must never be able to set for the upstream: the guard writes
// its own. Content-Length and Expect are also rebuilt by the guard, which
// frames each request itself.
export const rewrittenByGuard: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'x-request-id',
  'content-length',
  'expect',
]);

// Host identifies the target; letting a Connection option remove it would
// hand the upstream a different request than the one the client sent.
const neverConnectionOption: ReadonlySet<string> = new Set(['host']);

export function connectionOptions(value: string | string[] | undefined): Set<string> {
  const options = new Set<string>();
  if (value === undefined) return options;
  for (const part of (Array.isArray(value) ? value : [value]).join(',').split(',')) {
    const name = part.trim().toLowerCase();
    if (name && !neverConnectionOption.has(name)) options.add(name);
  }
  return options;
}
