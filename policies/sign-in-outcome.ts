import { readJsonAnswer } from '../common/answer-json.ts';
import type { Outcome } from './lockout-store.ts';

export type SignInStep = 'password' | 'second-factor';

// What the app's answers mean for lockout (better-auth 1.4):
// - 200 is a success, the two-factor step of a password sign-in included: the
//   password was right;
// - 401 with a wrong-credential code is a failure;
// - everything else (400 malformed, 403 unverified email or bad origin, 429 the
//   app's own limit, 5xx) says nothing about the password and is neither.
const failureCodes: Record<SignInStep, ReadonlySet<string>> = {
  password: new Set(['INVALID_EMAIL_OR_PASSWORD']),
  'second-factor': new Set(['INVALID_CODE', 'INVALID_BACKUP_CODE', 'INVALID_OTP']),
};

export function classifyOutcome(step: SignInStep, status: number, code: string | undefined) {
  if (status === 200) return 'success' satisfies Outcome;
  if (status === 401 && code !== undefined && failureCodes[step].has(code)) {
    return 'failure' satisfies Outcome;
  }
  return 'neither' satisfies Outcome;
}

/** Error bodies are a few dozen bytes; more than this is not an error body. */
export const MAX_OUTCOME_BODY_BYTES = 4096;

// The `code` of an error body such as {"code":"INVALID_EMAIL_OR_PASSWORD",...},
// decoded when the app compressed it.
export function readErrorCode(body: Buffer, contentEncoding: string | string[] | undefined) {
  const answer = readJsonAnswer(body, contentEncoding, MAX_OUTCOME_BODY_BYTES);
  if (answer === null || typeof answer !== 'object') return undefined;
  const code = (answer as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The email as the app resolves it: one account however it is typed. */
export function normaliseAccount(email: string): string {
  return email.trim().toLowerCase();
}
