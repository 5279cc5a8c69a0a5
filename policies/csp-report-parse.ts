import { MIMEType } from 'node:util';

/** What a CSP violation is recorded as: nothing that could carry a secret. */
export type CspViolation = {
  readonly directive: string;
  /** Scheme, host and path of what was blocked, or a keyword such as "inline". */
  readonly blockedUri: string;
  /** The path of the page, without query or fragment. */
  readonly page: string;
  readonly disposition: string;
};

export type ParsedReports =
  | { ok: true; violations: CspViolation[] }
  | { ok: false; status: 400 | 415; message: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const maxFieldChars = 256;

// Browsers send violations in two shapes: `report-uri` posts one
// {"csp-report": {...}} as application/csp-report (older ones say
// application/json), and the Reporting API (`report-to`) posts an array of
// {type, body} as application/reports+json, possibly with reports of other
// types, which are skipped.
export function parseCspReports(
  bytes: Buffer,
  contentType: string | undefined,
  maxReports: number,
): ParsedReports {
  const kind = formatOf(contentType);
  if (!kind) return { ok: false, status: 415, message: 'expected a CSP or Reporting API report' };
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return { ok: false, status: 400, message: 'the report is not valid JSON' };
  }

  if (kind === 'report-uri') {
    const report = field(value, 'csp-report');
    if (!isObject(report)) return { ok: false, status: 400, message: 'no csp-report object' };
    return { ok: true, violations: [fromReportUri(report)] };
  }
  if (!Array.isArray(value)) return { ok: false, status: 400, message: 'expected a list' };
  const violations = value
    .filter((entry) => field(entry, 'type') === 'csp-violation' && isObject(field(entry, 'body')))
    .slice(0, maxReports)
    .map((entry) => fromReportTo(field(entry, 'body') as Record<string, unknown>));
  return { ok: true, violations };
}

function formatOf(contentType: string | undefined): 'report-uri' | 'report-to' | undefined {
  let essence: string;
  try {
    essence = new MIMEType(contentType ?? '').essence;
  } catch {
    return undefined;
  }
  if (essence === 'application/csp-report' || essence === 'application/json') return 'report-uri';
  if (essence === 'application/reports+json') return 'report-to';
  return undefined;
}

function fromReportUri(report: Record<string, unknown>): CspViolation {
  const directive = text(report['effective-directive']) || text(report['violated-directive']);
  return {
    directive: directiveName(directive),
    blockedUri: withoutQuery(text(report['blocked-uri'])),
    page: pathOf(text(report['document-uri'])),
    disposition: keyword(text(report.disposition)) || 'enforce',
  };
}

function fromReportTo(body: Record<string, unknown>): CspViolation {
  return {
    directive: directiveName(text(body.effectiveDirective)),
    blockedUri: withoutQuery(text(body.blockedURL)),
    page: pathOf(text(body.documentURL)),
    disposition: keyword(text(body.disposition)) || 'enforce',
  };
}

// Older browsers put the whole directive ("script-src 'self'") here.
function directiveName(value: string): string {
  return keyword(value.split(' ')[0] ?? '') || 'unknown';
}

// A blocked URL may carry a token or a session id in its query, or
// credentials before its host: only scheme, host and path are kept.
function withoutQuery(value: string): string {
  if (value === '') return 'none';
  const word = keyword(value);
  if (word) return word;
  try {
    const url = new URL(value);
    if (url.host === '') return url.protocol;
    return `${url.protocol}//${url.host}${url.pathname}`.slice(0, maxFieldChars);
  } catch {
    return 'invalid';
  }
}

function pathOf(value: string): string {
  try {
    return new URL(value).pathname.slice(0, maxFieldChars);
  } catch {
    return 'unknown';
  }
}

function keyword(value: string): string {
  return /^[a-z][a-z0-9-]{0,63}$/i.test(value) ? value.toLowerCase() : '';
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim().slice(0, 4 * maxFieldChars) : '';
}

function field(value: unknown, name: string): unknown {
  return isObject(value) ? value[name] : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
