import type { z } from 'zod';
import { addProblem, checkFieldValue, type ValueProblem } from './header-values.ts';
import { closeMatch } from './hints.ts';

// CSP Level 3 with the directives other specifications add to it
// (Upgrade Insecure Requests, Trusted Types, Fenced Frames).
const knownDirectives = [
  'default-src',
  'child-src',
  'connect-src',
  'font-src',
  'frame-src',
  'img-src',
  'manifest-src',
  'media-src',
  'object-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'worker-src',
  'fenced-frame-src',
  'base-uri',
  'sandbox',
  'form-action',
  'frame-ancestors',
  'report-uri',
  'report-to',
  'webrtc',
  'upgrade-insecure-requests',
  'require-trusted-types-for',
  'trusted-types',
];

// Dropped from the drafts or never shipped; browsers ignore them, so a
// policy relying on one protects less than it reads.
const obsoleteDirectives = new Set([
  'block-all-mixed-content',
  'disown-opener',
  'navigate-to',
  'plugin-types',
  'prefetch-src',
  'referrer',
  'reflected-xss',
  'require-sri-for',
]);

export function checkDirectiveName(name: string): ValueProblem[] {
  const lower = name.toLowerCase();
  if (knownDirectives.includes(lower)) return [];
  if (obsoleteDirectives.has(lower)) {
    const hint = 'browsers ignore it; remove it';
    return [{ message: 'obsolete CSP directive, not in CSP Level 3', found: name, hint }];
  }
  const near = closeMatch(lower, knownDirectives);
  const hint = near ? `did you mean "${near}"?` : 'see the directives of CSP Level 3';
  return [{ message: 'unknown CSP directive', found: name, hint }];
}

// A policy written whole: directives split by ";", policies by ",".
export function checkPolicyText(policy: string): ValueProblem[] {
  const problems = checkFieldValue(policy);
  if (problems.length > 0) return problems;
  for (const directive of policy.split(/[;,]/)) {
    const name = directive.trim().split(/\s+/)[0];
    if (name) problems.push(...checkDirectiveName(name));
  }
  return problems;
}

// Inside one directive a ";" would end it early and a "," would start a
// second policy: in both cases the rest is read as another directive.
function checkSourceList(text: string, at: (string | number)[]): ValueProblem[] {
  const problems = checkFieldValue(text);
  if (problems.length === 0 && /[;,]/.test(text)) {
    problems.push({
      message: 'a ";" or "," here would split the policy',
      found: text,
      hint: 'give each directive its own key under directives; source lists use spaces',
    });
  }
  return problems.map((problem) => ({ ...problem, at }));
}

type DirectiveValue = string | string[];
type CspValueSetting = false | string | { directives?: Record<string, DirectiveValue> | undefined };

export function refineCsp(setting: CspValueSetting, context: z.core.$RefinementCtx<unknown>): void {
  if (setting === false) return;
  if (typeof setting === 'string') {
    for (const problem of checkPolicyText(setting)) addProblem(context, problem);
    return;
  }
  for (const [name, value] of Object.entries(setting.directives ?? {})) {
    const at = ['directives', name];
    for (const problem of checkDirectiveName(name)) addProblem(context, problem, at);
    if (typeof value === 'string') {
      for (const problem of checkSourceList(value, at)) addProblem(context, problem);
      continue;
    }
    value.forEach((source, index) => {
      for (const problem of checkSourceList(source, [...at, index])) addProblem(context, problem);
    });
  }
}
