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
    const [name, ...sources] = directive.trim().split(/\s+/);
    if (!name) continue;
    const named = checkDirectiveName(name);
    problems.push(...named);
    if (named.length === 0) problems.push(...checkSources(name, sources));
  }
  return problems;
}

// CSP Level 3 section 2.3.1: keywords, nonces and hashes are written in
// single quotes, and nothing else is. `self` without them is a host named
// "self": the policy still parses, and the app's own scripts are refused.
// The keywords are those of the grammar's keyword-source, with the ones the
// editor's draft has added since (Trusted Types eval, hash reporting,
// WebTransport hashes) and Speculation Rules' own.
const keywords = new Set([
  'self',
  'none',
  'unsafe-inline',
  'unsafe-eval',
  'strict-dynamic',
  'unsafe-hashes',
  'report-sample',
  'unsafe-allow-redirects',
  'wasm-unsafe-eval',
  'trusted-types-eval',
  'report-sha256',
  'report-sha384',
  'report-sha512',
  'unsafe-webtransport-hashes',
  'inline-speculation-rules',
]);
const nonceOrHash = /^(?:nonce|sha256|sha384|sha512)-[A-Za-z0-9+/_-]+={0,2}$/i;
const sourceListDirectives = /-src(?:-elem|-attr)?$|^(?:base-uri|form-action|frame-ancestors)$/;

function checkSources(directive: string, sources: readonly string[]): ValueProblem[] {
  if (!sourceListDirectives.test(directive.toLowerCase())) return [];
  const problems: ValueProblem[] = [];
  for (const source of sources) {
    const quoted = source.length > 1 && source.startsWith("'") && source.endsWith("'");
    const bare = quoted ? source.slice(1, -1) : source;
    const special = keywords.has(bare.toLowerCase()) || nonceOrHash.test(bare);
    if (special && !quoted) {
      problems.push({
        message: 'a CSP keyword, nonce or hash without its single quotes is read as a host name',
        found: source,
        hint: `write it quoted, as "'${bare}'" in YAML`,
      });
    } else if (!special && source.includes("'")) {
      problems.push({
        message: 'not a CSP source expression: only keywords, nonces and hashes are quoted',
        found: source,
        hint: 'write host and scheme sources without quotes, keywords as "\'self\'"',
      });
    }
  }
  return problems;
}

// Inside one directive a ";" would end it early and a "," would start a
// second policy: in both cases the rest is read as another directive.
function checkSourceList(directive: string, text: string, at: (string | number)[]): ValueProblem[] {
  const problems = checkFieldValue(text);
  if (problems.length === 0 && /[;,]/.test(text)) {
    problems.push({
      message: 'a ";" or "," here would split the policy',
      found: text,
      hint: 'give each directive its own key under directives; source lists use spaces',
    });
  }
  if (problems.length === 0) problems.push(...checkSources(directive, text.trim().split(/\s+/)));
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
      for (const problem of checkSourceList(name, value, at)) addProblem(context, problem);
      continue;
    }
    value.forEach((source, index) => {
      const problems = checkSourceList(name, source, [...at, index]);
      for (const problem of problems) addProblem(context, problem);
    });
  }
}
