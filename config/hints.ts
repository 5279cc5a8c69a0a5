import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

// Options that were renamed or that people carry over from other proxies.
const renamedKeys: Record<string, string> = {
  'upstream.timeout': 'upstream.responseTimeoutMs',
  'upstream.target': 'upstream.url',
  'listen.port': 'listen.https',
  trustProxy: 'trustedProxies',
  trusted_proxies: 'trustedProxies',
  'tls.cert': 'tls.files.cert',
  'tls.key': 'tls.files.key',
  'limits.bodyLimit': 'limits.maxBodyBytes',
  'headers.hsts': 'headers.strictTransportSecurity',
  'headers.csp': 'headers.contentSecurityPolicy',
};

const upstreamExample = 'for example upstream: { url: http://127.0.0.1:3000 }';

// Keys whose mistakes are best explained by an example.
const listenExample = 'a quoted address, for example ":8443" or "127.0.0.1:8443"';
const valueHints: Record<string, string> = {
  upstream: upstreamExample,
  'upstream.url': upstreamExample,
  'listen.https': listenExample,
  'listen.http': `${listenExample}, or false`,
  'listen.admin': `${listenExample}, or false`,
};

export function hintForValue(dottedPath: string): string | undefined {
  return valueHints[dottedPath];
}

type Def = { type: string; [key: string]: unknown };

function defOf(schema: unknown): Def | undefined {
  const internals = (schema as { _zod?: { def?: Def } } | undefined)?._zod;
  return internals?.def;
}

// Walks the schema to the object at `path` and lists the keys it accepts.
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  collectKeys(schema, path, keys);
  return [...keys];
}

function collectKeys(schema: unknown, path: readonly PropertyKey[], keys: Set<string>): void {
  const def = defOf(schema);
  if (!def) return;
  const wrapped = def.innerType ?? def.in;
  if (wrapped) return collectKeys(wrapped, path, keys);
  if (def.type === 'union') {
    for (const option of def.options as unknown[]) collectKeys(option, path, keys);
    return;
  }
  const [head, ...rest] = path;
  if (def.type === 'array') {
    if (typeof head === 'number') collectKeys(def.element, rest, keys);
    return;
  }
  if (def.type === 'record') {
    if (head !== undefined) collectKeys(def.valueType, rest, keys);
    return;
  }
  if (def.type !== 'object') return;
  const shape = def.shape as Record<string, unknown>;
  if (head === undefined) {
    for (const key of Object.keys(shape)) keys.add(key);
    return;
  }
  collectKeys(shape[String(head)], rest, keys);
}

export function hintForKey(dottedPath: string, key: string, known: string[]): string | undefined {
  const renamed = renamedKeys[dottedPath];
  if (renamed) return `renamed: use "${renamed}"`;
  if (known.length === 0) return undefined;
  const suggestion = closeMatch(key, known);
  if (suggestion) return `did you mean "${suggestion}"?`;
  return `known keys here: ${known.join(', ')}`;
}

// The known word a misspelling most likely meant, when one is near enough:
// a third of the word's letters may be wrong, two at least.
export function closeMatch(word: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const lower = word.toLowerCase();
  const suggestion = closest(
    lower,
    known.map((entry) => entry.toLowerCase()),
  );
  const tolerance = Math.max(2, Math.floor(word.length / 3));
  if (distance(lower, suggestion) > tolerance) return undefined;
  return known.find((entry) => entry.toLowerCase() === suggestion);
}
