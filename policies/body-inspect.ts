import type { IncomingHttpHeaders } from 'node:http';
import { MIMEType } from 'node:util';
import type { BodyInspectionConfig, BodyRuleConfig } from '../config/policy-schema.ts';
import type { Reply } from '../proxy/reply.ts';
import { decodeContentEncoding } from './body-encoding.ts';

/** A request body the guard has read whole, decoded and accepted. */
export type InspectedBody = {
  /** The bytes as received (still content-encoded): exactly what the app gets. */
  readonly raw: Buffer;
  readonly mediaType: 'json' | 'urlencoded' | 'empty';
  /** Top-level fields; JSON values keep their types, urlencoded ones are strings. */
  readonly fields: Readonly<Record<string, unknown>>;
};

export type Inspection = { ok: true; body: InspectedBody } | { ok: false; reply: Reply };

const mediaTypes: Record<string, 'json' | 'urlencoded'> = {
  'application/json': 'json',
  'application/x-www-form-urlencoded': 'urlencoded',
};
const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string): Inspection {
  return { ok: false, reply: { status: 400, code: 'GUARD_ERR_BODY_INVALID', message } };
}

function unsupported(message: string): Inspection {
  return { ok: false, reply: { status: 415, code: 'GUARD_ERR_UNSUPPORTED_MEDIA_TYPE', message } };
}

// Reads a body the way the app will, or refuses it: a body the guard cannot
// read with certainty is never forwarded on an inspected route, since the
// app could see an account or a password the guard did not.
export function inspectBody(
  raw: Buffer,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  rule: BodyRuleConfig,
  settings: BodyInspectionConfig,
): Inspection {
  if (countHeader(rawHeaders, 'content-type') > 1) return invalid('more than one Content-Type');
  if (raw.length === 0) return { ok: true, body: { raw, mediaType: 'empty', fields: {} } };

  const mediaType = readMediaType(headers['content-type'], rule);
  if (typeof mediaType !== 'string') return mediaType;
  const decoded = decodeContentEncoding(raw, headers['content-encoding'], settings);
  if (!decoded.ok) return decoded;
  let text: string;
  try {
    text = utf8.decode(decoded.bytes);
  } catch {
    return invalid('the request body is not valid UTF-8');
  }

  const fields = mediaType === 'json' ? parseJson(text) : parseForm(text);
  if (typeof fields === 'string') return invalid(fields);
  for (const [name, type] of Object.entries(rule.fields)) {
    if (!Object.hasOwn(fields, name)) continue;
    if (typeof fields[name] !== type) return invalid(`field ${name} must be a ${type}`);
  }
  return { ok: true, body: { raw, mediaType, fields } };
}

// Any case and parameter order are read alike; a charset other than UTF-8
// and any other parameter are refused, so that no reading of the header by
// the app can differ from the guard's.
function readMediaType(
  header: string | undefined,
  rule: BodyRuleConfig,
): 'json' | 'urlencoded' | Inspection {
  let parsed: MIMEType;
  try {
    parsed = new MIMEType(header ?? '');
  } catch {
    return unsupported('a Content-Type is required');
  }
  const kind = mediaTypes[parsed.essence];
  if (!kind || !rule.contentTypes.includes(kind)) {
    return unsupported('this content type is not accepted here');
  }
  for (const [name, value] of parsed.params) {
    if (name !== 'charset') return unsupported('unexpected Content-Type parameter');
    if (!/^utf-?8$/i.test(value)) return unsupported('only UTF-8 is accepted');
  }
  return kind;
}

// JSON.parse keeps the last of duplicate keys, as the app's own JSON.parse
// does, so both read the same value.
function parseJson(text: string): Record<string, unknown> | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the request body is not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'the request body must be a JSON object';
  }
  return value as Record<string, unknown>;
}

// Form parsers disagree on repeated keys (first, last, or a list), so a
// repeated key is refused rather than guessed.
function parseForm(text: string): Record<string, unknown> | string {
  const fields: Record<string, unknown> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.hasOwn(fields, name)) return 'a field is repeated';
    fields[name] = value;
  }
  return fields;
}

function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === name) count += 1;
  }
  return count;
}

/** A string field of an inspected body, or undefined. */
export function stringField(body: InspectedBody | undefined, name: string): string | undefined {
  const value = body?.fields[name];
  return typeof value === 'string' ? value : undefined;
}

/** The account a body names, as the app resolves accounts: trimmed, lower-cased. */
export function accountOf(body: InspectedBody | undefined): string | undefined {
  const email = stringField(body, 'email')?.trim().toLowerCase();
  return email ? email : undefined;
}
