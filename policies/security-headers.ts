import { randomBytes } from 'node:crypto';
import type { HeaderSetting, HeadersConfig } from '../config/schema.ts';
import { buildCsp, type CspPlan, nonceToken, reportGroup } from './csp.ts';

export type HeaderMap = Record<string, string | string[] | undefined>;
type Mode = 'set' | 'keep' | 'default';
type HeaderRule = { name: string; value: string; mode: Mode };

export type HeaderPlan = {
  readonly rules: readonly HeaderRule[];
  readonly remove: ReadonlySet<string>;
  readonly csp: CspPlan | undefined;
};

const defaults = {
  strictTransportSecurity: 'max-age=31536000; includeSubDomains',
  xFrameOptions: 'DENY',
  xContentTypeOptions: 'nosniff',
  referrerPolicy: 'strict-origin-when-cross-origin',
  permissionsPolicy: 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  crossOriginOpenerPolicy: 'same-origin',
  cacheControl: false,
} as const;

type SimpleHeader = keyof typeof defaults;

const wireNames: Record<SimpleHeader, string> = {
  strictTransportSecurity: 'strict-transport-security',
  xFrameOptions: 'x-frame-options',
  xContentTypeOptions: 'x-content-type-options',
  referrerPolicy: 'referrer-policy',
  permissionsPolicy: 'permissions-policy',
  crossOriginOpenerPolicy: 'cross-origin-opener-policy',
  cacheControl: 'cache-control',
};

export type SecurityHeaders = {
  /** The plan for a normalised path; HSTS only when the response goes over TLS. */
  planFor(path: string, overTls: boolean): HeaderPlan;
};

// Plans are built once per path prefix and per transport, so a request only
// picks one and applies it.
export function buildSecurityHeaders(config: HeadersConfig, reportPath?: string): SecurityHeaders {
  const base = { ...config, paths: undefined };
  const prefixes = Object.keys(config.paths).sort((a, b) => b.length - a.length);
  const matchers = prefixes.map((prefix) => ({ prefix, lower: prefix.toLowerCase() }));
  const plans = new Map<string, [HeaderPlan, HeaderPlan]>();
  plans.set('', buildPair(base, base.remove, reportPath));
  for (const prefix of prefixes) {
    const override = config.paths[prefix] ?? {};
    const merged = { ...base, ...stripUndefined(override) };
    const remove = [...base.remove, ...(override.remove ?? [])];
    plans.set(prefix, buildPair(merged, remove, reportPath));
  }

  return {
    planFor(path, overTls) {
      const prefix = matchers.find((candidate) => path.startsWith(candidate.lower))?.prefix ?? '';
      const pair = plans.get(prefix) ?? plans.get('');
      return (pair as [HeaderPlan, HeaderPlan])[overTls ? 0 : 1];
    },
  };
}

function buildPair(
  settings: Partial<HeadersConfig>,
  remove: readonly string[],
  reportPath: string | undefined,
) {
  const rules: HeaderRule[] = [];
  for (const key of Object.keys(defaults) as SimpleHeader[]) {
    const rule = toRule(wireNames[key], settings[key] ?? defaults[key]);
    if (rule) rules.push(rule);
  }
  const removeSet = new Set(remove.map((name) => name.toLowerCase()));
  const csp = buildCsp(settings.contentSecurityPolicy, reportPath);
  if (csp?.template.includes(`report-to ${reportGroup}`)) {
    const value = `${reportGroup}="${reportPath}"`;
    rules.push({ name: 'reporting-endpoints', value, mode: 'set' });
  }
  const overTls: HeaderPlan = { rules, remove: removeSet, csp };
  const plain: HeaderPlan = {
    rules: rules.filter((rule) => rule.name !== 'strict-transport-security'),
    remove: removeSet,
    csp,
  };
  return [overTls, plain] as [HeaderPlan, HeaderPlan];
}

function toRule(name: string, setting: HeaderSetting): HeaderRule | undefined {
  if (setting === false) return undefined;
  if (typeof setting === 'string') return { name, value: setting, mode: 'set' };
  return { name, value: setting.value, mode: setting.mode };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

export function createNonce(): string {
  return randomBytes(16).toString('base64');
}

export function cspValue(plan: CspPlan, nonce: string | undefined): string {
  return plan.nonce && nonce ? plan.template.replaceAll(nonceToken, nonce) : plan.template;
}

// Applies a plan to lower-cased response headers in place. Whatever the
// upstream sent, exactly one field of each managed header leaves the guard.
export function applySecurityHeaders(headers: HeaderMap, plan: HeaderPlan, nonce?: string): void {
  for (const name of plan.remove) delete headers[name];
  for (const rule of plan.rules) setOne(headers, rule.name, rule.value, rule.mode);
  if (plan.csp) setOne(headers, plan.csp.name, cspValue(plan.csp, nonce), plan.csp.mode);
}

function setOne(headers: HeaderMap, name: string, value: string, mode: Mode): void {
  const current = headers[name];
  const first = Array.isArray(current) ? current[0] : current;
  if (mode === 'set' || first === undefined) headers[name] = value;
  else headers[name] = first;
}
