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

// Nearly every message says "keep-alive" or "close", so the sets for the few
// values seen are kept rather than built per message. Values are
// client-controlled: only short ones are kept, and only so many.
const knownValues = new Map<string, ReadonlySet<string>>();
const maxKnownValues = 64;
const maxKnownLength = 64;
const noOptions: ReadonlySet<string> = new Set();

export function connectionOptions(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return noOptions;
  if (Array.isArray(value)) return parseOptions(value.join(','));
  const known = knownValues.get(value);
  if (known) return known;
  const options = parseOptions(value);
  if (value.length <= maxKnownLength && knownValues.size < maxKnownValues) {
    knownValues.set(value, options);
  }
  return options;
}

function parseOptions(value: string): ReadonlySet<string> {
  const options = new Set<string>();
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name && !neverConnectionOption.has(name)) options.add(name);
  }
  return options;
}
