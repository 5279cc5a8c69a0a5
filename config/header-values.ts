import type { z } from 'zod';
import { closeMatch } from './hints.ts';

/** What is wrong with one header value; `at` is the path below the setting. */
export type ValueProblem = {
  message: string;
  found: string;
  hint?: string;
  at?: (string | number)[];
};

export type ValueCheck = (value: string) => ValueProblem[];

// Node refuses to send anything else (ERR_INVALID_CHAR) and a line break
// would start a new header: RFC 9110 section 5.5 allows tab, visible ASCII,
// space and obs-text only.
const invalidFieldChar = /[^\t\x20-\x7e\x80-\xff]/;

export function checkFieldValue(value: string): ValueProblem[] {
  const bad = invalidFieldChar.exec(value);
  if (!bad) return [];
  const point = bad[0].codePointAt(0) ?? 0;
  const code = point.toString(16).toUpperCase().padStart(4, '0');
  const what = point > 0xff ? 'a character beyond Latin-1' : 'a control character';
  return [
    {
      message: `not a valid HTTP field value: ${what} (U+${code}) at position ${bad.index + 1}`,
      found: value,
      hint: 'a header value is one line of printable characters (YAML | and > add line breaks)',
    },
  ];
}

// Runs the field-value check first: a value that cannot be sent at all needs
// no second opinion on its meaning.
export function fieldValue(check?: ValueCheck): ValueCheck {
  return (value) => {
    const problems = checkFieldValue(value);
    if (problems.length > 0 || !check) return problems;
    return check(value);
  };
}

function oneOf(
  header: string,
  allowed: readonly string[],
  value: string,
  caseless: boolean,
): ValueProblem[] {
  const token = value.trim();
  const same = (entry: string) =>
    caseless ? entry.toLowerCase() === token.toLowerCase() : entry === token;
  if (allowed.some(same)) return [];
  const message =
    allowed.length > 4 ? `unknown ${header} token` : `${header} takes ${allowed.join(', ')}`;
  const near = closeMatch(token, allowed);
  const hint = near ? `did you mean "${near}"?` : `use one of: ${allowed.join(', ')}`;
  return [{ message, found: value, hint }];
}

// RFC 7034: the value is matched without regard to case. ALLOW-FROM was
// never widely kept and current browsers ignore the whole header for it.
export function checkFrameOptions(value: string): ValueProblem[] {
  if (/^\s*allow-from\b/i.test(value)) {
    return [
      {
        message: 'X-Frame-Options ALLOW-FROM is ignored by current browsers',
        found: value,
        hint: 'allow framing sites with contentSecurityPolicy directives: { frame-ancestors: ... }',
      },
    ];
  }
  return oneOf('X-Frame-Options', ['DENY', 'SAMEORIGIN'], value, true);
}

// Fetch: "nosniff", compared without regard to case.
export function checkContentTypeOptions(value: string): ValueProblem[] {
  return oneOf('X-Content-Type-Options', ['nosniff'], value, true);
}

const referrerPolicies = [
  'no-referrer',
  'no-referrer-when-downgrade',
  'same-origin',
  'origin',
  'strict-origin',
  'origin-when-cross-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
];

// Referrer Policy section 4.1: a comma list; the browser keeps the last
// token it knows, so older browsers get a fallback listed before it. The
// tokens are compared as written; empty ones are skipped, as browsers do.
export function checkReferrerPolicy(value: string): ValueProblem[] {
  const tokens = value.split(',').filter((token) => token.trim() !== '');
  if (tokens.length === 0) {
    const hint = 'for example strict-origin-when-cross-origin';
    return [{ message: 'Referrer-Policy needs a token', found: value, hint }];
  }
  return tokens.flatMap((token) => {
    const problems = oneOf('Referrer-Policy', referrerPolicies, token, false);
    return problems.map((problem) => ({ ...problem, found: token.trim() }));
  });
}

// HTML: noopener-allow-popups is known to Chrome 131+ and Safari 18.4+;
// Firefox treats it as unsafe-none. Parameters (report-to) may follow.
const openerPolicies = [
  'same-origin',
  'same-origin-allow-popups',
  'unsafe-none',
  'noopener-allow-popups',
];

export function checkOpenerPolicy(value: string): ValueProblem[] {
  const [token = '', ...parameters] = value.split(';');
  const problems = oneOf('Cross-Origin-Opener-Policy', openerPolicies, token, false);
  for (const parameter of parameters) {
    if (/^\s*[a-z*][a-z0-9_.*-]*(=\S+)?\s*$/.test(parameter)) continue;
    problems.push({
      message: 'Cross-Origin-Opener-Policy parameters are key=value after ";"',
      found: parameter.trim(),
      hint: 'for example same-origin; report-to="coop"',
    });
  }
  return problems;
}

const hstsExample = 'for example "max-age=31536000; includeSubDomains"';

// RFC 6797 section 6.1: directives separated by ";", names without regard to
// case, each at most once, max-age required. Unknown directives are ignored
// by browsers, so here they are most likely misspellings.
export function checkTransportSecurity(value: string): ValueProblem[] {
  const problems: ValueProblem[] = [];
  const seen = new Set<string>();
  let maxAgeSeconds = 0;
  for (const part of value.split(';')) {
    const directive = part.trim();
    if (directive === '') continue;
    const [rawName = '', ...rest] = directive.split('=');
    const name = rawName.trim().toLowerCase();
    const argument = rest.join('=').trim();
    if (seen.has(name)) {
      const hint = 'keep one of them';
      problems.push({
        message: 'a directive given twice voids the header',
        found: directive,
        hint,
      });
    }
    seen.add(name);
    if (name === 'max-age') maxAgeSeconds = Number(argument.replaceAll('"', ''));
    problems.push(...checkHstsDirective(name, argument, directive));
  }
  if (!seen.has('max-age')) {
    problems.push({
      message: 'Strict-Transport-Security needs max-age=SECONDS',
      found: value,
      hint: hstsExample,
    });
  }
  // The browsers' preload list takes a site only with includeSubDomains and
  // a max-age of a year or more; `preload` without them asks for what cannot be.
  const preloadable = seen.has('includesubdomains') && maxAgeSeconds >= preloadMinSeconds;
  if (problems.length === 0 && seen.has('preload') && !preloadable) {
    problems.push({
      message: 'preload needs includeSubDomains and a max-age of at least 31536000 (a year)',
      found: value,
      hint: 'for example "max-age=63072000; includeSubDomains; preload"',
    });
  }
  return problems;
}

const preloadMinSeconds = 31_536_000;

const hstsDirectives = ['max-age', 'includeSubDomains', 'preload'];

function checkHstsDirective(name: string, argument: string, directive: string): ValueProblem[] {
  if (name === 'max-age') {
    if (/^("?)\d+\1$/.test(argument)) return [];
    return [{ message: 'max-age takes a number of seconds', found: directive, hint: hstsExample }];
  }
  if (name === 'includesubdomains' || name === 'preload') {
    if (argument === '' && !directive.includes('=')) return [];
    return [
      {
        message: `${name === 'preload' ? 'preload' : 'includeSubDomains'} takes no value`,
        found: directive,
        hint: 'for example "max-age=63072000; includeSubDomains; preload"',
      },
    ];
  }
  const near = closeMatch(name, hstsDirectives);
  const hint = near ? `did you mean "${near}"?` : `known directives: ${hstsDirectives.join(', ')}`;
  return [{ message: 'unknown Strict-Transport-Security directive', found: directive, hint }];
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Header names (RFC 9110 section 5.1) listed for removal.
export function refineHeaderName(name: string, context: z.core.$RefinementCtx<unknown>): void {
  if (token.test(name)) return;
  const hint = 'letters, digits and "-" with no spaces, as in X-Powered-By';
  addProblem(context, { message: 'not a header name', found: name, hint });
}

type HeaderValueSetting = false | string | { value: string };

// Applies a check to whichever form a header setting took: its string, or
// the `value` of {value, mode}.
export function refineHeader(check: ValueCheck) {
  return (setting: HeaderValueSetting, context: z.core.$RefinementCtx<unknown>): void => {
    if (setting === false) return;
    const [value, at] = typeof setting === 'string' ? [setting, []] : [setting.value, ['value']];
    for (const problem of check(value)) addProblem(context, problem, at);
  };
}

export function addProblem(
  context: z.core.$RefinementCtx<unknown>,
  problem: ValueProblem,
  at: (string | number)[] = [],
): void {
  context.addIssue({
    code: 'custom',
    path: [...at, ...(problem.at ?? [])],
    message: problem.message,
    input: problem.found,
    params: problem.hint === undefined ? {} : { hint: problem.hint },
  });
}
