import { createHmac, randomUUID } from 'node:crypto';
import { eventOutcomes, eventSchemaVersion } from './catalogue.ts';
import type { SecurityEventInput } from './security-events.ts';

type DetailValue = string | number | boolean | null;

// One event as it is spooled, shipped and stored. Field order here is the
// order the hash chain reads them in (audit/hash-chain.ts).
export type AuditRecord = {
  version: number;
  id: string;
  stream: string;
  seq: number;
  time: string;
  type: string;
  outcome: string;
  account: string | null;
  userId: string | null;
  clientIp: string | null;
  userAgent: string | null;
  requestId: string | null;
  route: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  details: Record<string, DetailValue>;
  prevHash: string;
  hash: string;
};

export type UnchainedRecord = Omit<AuditRecord, 'stream' | 'seq' | 'prevHash' | 'hash'>;

export type IdentityMode = { mode: 'plain' } | { mode: 'pseudonymised'; key: string };

const maxDetails = 16;
const limits = {
  type: 64,
  account: 320,
  userId: 128,
  clientIp: 64,
  userAgent: 512,
  requestId: 64,
  route: 64,
  method: 16,
  path: 512,
  detailKey: 64,
  detailValue: 256,
};

// Makes an emitted event storable and bounded: every string is well-formed
// UTF-16 without NUL (PostgreSQL text and jsonb refuse both), cut to a fixed
// length, and identities are replaced by a keyed hash when so configured.
export function buildRecord(input: SecurityEventInput, identity: IdentityMode): UnchainedRecord {
  const hide = (value: string | undefined, limit: number) => {
    const text = bounded(value, limit);
    return text === null || identity.mode === 'plain' ? text : pseudonym(identity.key, text);
  };
  const outcome = (eventOutcomes as readonly string[]).includes(input.outcome)
    ? input.outcome
    : 'info';
  return {
    version: eventSchemaVersion,
    id: randomUUID(),
    time: new Date().toISOString(),
    type: bounded(input.type, limits.type) ?? 'unknown',
    outcome,
    account: hide(input.actor?.account?.toLowerCase(), limits.account),
    userId: hide(input.actor?.userId, limits.userId),
    clientIp: hide(input.clientIp, limits.clientIp),
    userAgent: bounded(input.userAgent, limits.userAgent),
    requestId: bounded(input.requestId, limits.requestId),
    route: bounded(input.route, limits.route),
    method: bounded(input.method, limits.method),
    path: bounded(input.path, limits.path),
    status: Number.isInteger(input.status) ? (input.status as number) : null,
    details: boundedDetails(input.details),
  };
}

// An operator searching for one person computes the same hash with the key.
export function pseudonym(key: string, value: string): string {
  const digest = createHmac('sha256', key).update(value.toLowerCase()).digest('hex');
  return `h:${digest.slice(0, 32)}`;
}

export function bounded(value: string | undefined | null, limit: number): string | null {
  if (value === undefined || value === null) return null;
  let clean = wellFormed(String(value));
  if (clean.includes('\u0000')) clean = clean.replaceAll('\u0000', '\uFFFD');
  if (clean.length <= limit) return clean;
  // Cutting between the halves of a surrogate pair would leave half a character.
  return `${wellFormed(clean.slice(0, limit - 1))}…`;
}

const anySurrogate = /[\uD800-\uDFFF]/;
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// A lone surrogate cannot be encoded as UTF-8; the database would see U+FFFD
// and the hash of the stored row would differ from the one computed here.
function wellFormed(text: string): string {
  return anySurrogate.test(text) ? text.replace(loneSurrogate, '\uFFFD') : text;
}

function boundedDetails(details: SecurityEventInput['details']): Record<string, DetailValue> {
  const result: Record<string, DetailValue> = {};
  if (!details) return result;
  const keys = Object.keys(details).sort().slice(0, maxDetails);
  for (const key of keys) {
    const value = details[key];
    const name = bounded(key, limits.detailKey) ?? '';
    if (typeof value === 'string') result[name] = bounded(value, limits.detailValue);
    else if (typeof value === 'number') result[name] = Number.isFinite(value) ? value : null;
    else if (typeof value === 'boolean' || value === null) result[name] = value;
  }
  return result;
}
