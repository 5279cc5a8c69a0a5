import type { CspSetting } from '../config/schema.ts';

export const nonceToken = '{{nonce}}';

// A policy OComms works under: Next.js streams inline bootstrap scripts and
// inline styles, Socket.IO connects back to the same origin over wss (which
// CSP Level 3 lets 'self' match), avatars and previews use data: and blob:.
// Framing is refused outright; clickjacking is the attack it blocks.
export const defaultCspDirectives: Readonly<Record<string, string>> = {
  'default-src': "'self'",
  'script-src': "'self' 'unsafe-inline'",
  'style-src': "'self' 'unsafe-inline'",
  'img-src': "'self' data: blob:",
  'font-src': "'self' data:",
  'connect-src': "'self'",
  'media-src': "'self' blob:",
  'worker-src': "'self' blob:",
  'object-src': "'none'",
  'base-uri': "'self'",
  'form-action': "'self'",
  'frame-ancestors': "'none'",
};

export type CspPlan = {
  name: 'content-security-policy' | 'content-security-policy-report-only';
  /** The policy; holds nonceToken where a per-request nonce goes. */
  template: string;
  nonce: boolean;
  mode: 'set' | 'keep' | 'default';
};

/** The group name the policy's `report-to` names in Reporting-Endpoints. */
export const reportGroup = 'csp-endpoint';

// With reportPath (the guard collects reports), the policy names it twice:
// `report-uri` for browsers that only know that, `report-to` for the
// Reporting API; browsers that know both use report-to. A policy given as
// one string, or whose directives name their own reporting, is left alone.
export function buildCsp(
  setting: CspSetting | undefined,
  reportPath?: string,
): CspPlan | undefined {
  if (setting === false) return undefined;
  if (typeof setting === 'string') {
    return { name: 'content-security-policy', template: setting, nonce: false, mode: 'set' };
  }
  const directives = { ...defaultCspDirectives };
  for (const [name, value] of Object.entries(setting?.directives ?? {})) {
    const text = Array.isArray(value) ? value.join(' ') : value;
    if (text.trim() === '') delete directives[name.toLowerCase()];
    else directives[name.toLowerCase()] = text;
  }
  // With a nonce, browsers ignore 'unsafe-inline'; it stays only for old ones.
  if (setting?.nonce) {
    const scripts = directives['script-src'] ?? "'self'";
    directives['script-src'] = `${scripts} 'nonce-${nonceToken}' 'strict-dynamic'`;
  }
  if (reportPath && !directives['report-uri'] && !directives['report-to']) {
    directives['report-uri'] = reportPath;
    directives['report-to'] = reportGroup;
  }
  const template = Object.entries(directives)
    .map(([name, value]) => (value ? `${name} ${value}` : name))
    .join('; ');
  return {
    name: setting?.reportOnly ? 'content-security-policy-report-only' : 'content-security-policy',
    template,
    nonce: setting?.nonce ?? false,
    mode: setting?.mode ?? 'set',
  };
}
