import type { PasswordPolicyConfig } from '../config/password-schema.ts';
import { type Blocklist, builtinBlocklist, emptyBlocklist } from './password-blocklist.ts';
import { estimateStrength, warmEstimator } from './password-strength.ts';

export type PasswordRule =
  | 'too-short'
  | 'too-long'
  | 'blocklisted'
  | 'character-classes'
  | 'too-guessable';

export type PasswordInput = {
  readonly password: string;
  /** Context the password must not be built from. */
  readonly email?: string | undefined;
  readonly name?: string | undefined;
};

export type PasswordDecision =
  | { readonly allow: true; readonly score?: number }
  | {
      readonly allow: false;
      readonly status: 400;
      readonly code: 'PASSWORD_TOO_WEAK';
      readonly rule: PasswordRule;
      /** Advice the app's UI shows as it is. */
      readonly message: string;
      readonly suggestions: readonly string[];
    };

export type PasswordPolicy = {
  readonly enabled: boolean;
  evaluate(input: PasswordInput): PasswordDecision;
};

const CLASSES = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}]/u];

// Code points, not UTF-16 units, as NIST SP 800-63B counts them: an emoji is
// one character. Past twice the maximum a string cannot fit, whatever it holds,
// so a megabyte-long "password" is refused without walking it.
export function countCodePoints(text: string, stopAfter: number): number {
  if (text.length > stopAfter * 2) return stopAfter + 1;
  let count = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) index += 1;
    }
    count += 1;
  }
  return count;
}

export function buildPasswordPolicy(config: PasswordPolicyConfig): PasswordPolicy {
  const blocklist: Blocklist = config.blocklist === 'builtin' ? builtinBlocklist() : emptyBlocklist;
  if (config.enabled) warmEstimator();

  const refuse = (rule: PasswordRule, message: string, suggestions: string[] = []) =>
    ({ allow: false, status: 400, code: 'PASSWORD_TOO_WEAK', rule, message, suggestions }) as const;

  return {
    enabled: config.enabled,
    evaluate({ password, email, name }) {
      const length = countCodePoints(password, config.maxLength);
      if (length < config.minLength) {
        return refuse('too-short', `Use at least ${config.minLength} characters.`);
      }
      if (length > config.maxLength) {
        return refuse('too-long', `Use at most ${config.maxLength} characters.`);
      }
      if (blocklist.has(password)) {
        const message = 'This password appears in lists of common or leaked passwords.';
        return refuse('blocklisted', `${message} Choose a different one.`);
      }

      const classes = CLASSES.filter((pattern) => pattern.test(password)).length;
      if (classes < config.minCharacterClasses) {
        const message =
          `Use at least ${config.minCharacterClasses} of: lower-case letters, ` +
          'upper-case letters, digits, symbols.';
        return refuse('character-classes', message);
      }

      const estimate = estimateStrength(password, { email, name });
      if (estimate.score >= config.minScore) return { allow: true, score: estimate.score };
      const suggestions = estimate.suggestions.length
        ? [...estimate.suggestions]
        : ['Add more words that are hard to guess.'];
      const advice = [estimate.warning, ...suggestions].filter(Boolean).join(' ');
      const message = `This password is too easy to guess. ${advice}`;
      return refuse('too-guessable', message, suggestions);
    },
  };
}
