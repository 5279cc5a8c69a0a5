import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary, translations } from '@zxcvbn-ts/language-en';

export type StrengthEstimate = {
  /** 0 (trivially guessable) to 4 (very unguessable), zxcvbn's scale. */
  readonly score: number;
  readonly warning: string | undefined;
  readonly suggestions: readonly string[];
};

// The estimator's cost grows faster than linearly with length and with the
// number of look-alike characters it tries to undo: a 128-character string of
// symbols took 0.7 s with the library's defaults. A prefix of 64 code points
// already carries far more than the guesses a score of 4 needs, and four
// substitutions catch the common "p@ssw0rd" family, so both are capped here.
export const ESTIMATE_MAX_CODE_POINTS = 64;
const L33T_MAX_SUBSTITUTIONS = 4;

// Words that make a password guessable on this service whoever the user is.
const SERVICE_WORDS = ['ocomms', 'chat', 'workspace'];

let shared: ZxcvbnFactory | undefined;

// Building the ranked dictionaries takes about 100 ms, so one estimator serves
// the whole process.
function estimator(): ZxcvbnFactory {
  shared ??= new ZxcvbnFactory({
    translations,
    graphs: adjacencyGraphs,
    dictionary: { ...commonDictionary, ...englishDictionary },
    useLevenshteinDistance: false,
    l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
    maxLength: ESTIMATE_MAX_CODE_POINTS,
  });
  return shared;
}

/** Loads the dictionaries now rather than on the first request. */
export function warmEstimator(): void {
  estimator();
}

export type StrengthContext = { email?: string | undefined; name?: string | undefined };

// The user's own email and name, and their parts, count as dictionary words:
// "alice.smith2024" is weak for Alice Smith even though it is long.
export function contextWords(context: StrengthContext): string[] {
  const words = new Set<string>(SERVICE_WORDS);
  const add = (value: string | undefined) => {
    const word = value?.trim().toLowerCase();
    if (word && word.length >= 3) words.add(word);
  };
  const email = context.email?.trim().toLowerCase();
  if (email) {
    add(email);
    const [local, domain] = email.split('@');
    add(local);
    for (const part of local?.split(/[^\p{L}\p{N}]+/u) ?? []) add(part);
    add(domain?.split('.')[0]);
  }
  add(context.name);
  for (const part of context.name?.split(/[^\p{L}\p{N}]+/u) ?? []) add(part);
  return [...words];
}

export function estimateStrength(password: string, context: StrengthContext): StrengthEstimate {
  const prefix = Array.from(password).slice(0, ESTIMATE_MAX_CODE_POINTS).join('');
  const result = estimator().check(prefix, contextWords(context));
  return {
    score: result.score,
    warning: result.feedback.warning ?? undefined,
    suggestions: result.feedback.suggestions,
  };
}
