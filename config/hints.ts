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
  const suggestion = closest(key, known);
  const tolerance = Math.max(2, Math.floor(key.length / 3));
  if (distance(key.toLowerCase(), suggestion.toLowerCase()) <= tolerance) {
    return `did you mean "${suggestion}"?`;
  }
  return `known keys here: ${known.join(', ')}`;
}
