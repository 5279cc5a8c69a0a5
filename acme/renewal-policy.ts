import type { CertificateState } from './acme-storage.ts';

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;

/** Renewal starts when a third of the lifetime remains: 30 days of 90, 2 days of 6. */
export const renewRemainingFraction = 1 / 3;
/** The longest gap between two checks (so at least twice a day), before jitter. */
export const checkIntervalMs = 12 * hourMs;
/** First wait after a failure; doubles with each further failure. */
export const backoffBaseMs = 5 * minuteMs;
export const backoffMaxMs = 12 * hourMs;
// Let's Encrypt allows 5 failed validations per name per hour; staying at 3
// leaves room for an operator's manual attempt and for clock skew.
export const maxFailuresPerHour = 3;

export function renewalTime(notBefore: Date, notAfter: Date): number {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return notAfter.getTime() - lifetime * renewRemainingFraction;
}

/** Delay until the next routine check: between 9 and 12 hours, spread across instances. */
export function checkDelayMs(random = Math.random): number {
  return checkIntervalMs * (0.75 + 0.25 * random());
}

// Exponential backoff with "equal jitter": half the delay fixed, half random,
// so that instances failing together do not retry together.
export function backoffMs(failures: number, random = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 16);
  const delay = Math.min(backoffBaseMs * 2 ** exponent, backoffMaxMs);
  return delay / 2 + (delay / 2) * random();
}

/** The state after a failed attempt at `nowMs`: when the next attempt may run. */
export function recordFailure(
  state: CertificateState,
  nowMs: number,
  retryAfterSeconds: number | undefined,
  random = Math.random,
): CertificateState {
  const failureTimes = [...state.failureTimes.filter((at) => at > nowMs - hourMs), nowMs];
  const failures = state.failures + 1;
  let notBefore = nowMs + backoffMs(failures, random);
  if (retryAfterSeconds !== undefined) {
    notBefore = Math.max(notBefore, nowMs + retryAfterSeconds * 1000);
  }
  if (failureTimes.length >= maxFailuresPerHour) {
    notBefore = Math.max(notBefore, (failureTimes[0] ?? nowMs) + hourMs);
  }
  return { ...state, failures, failureTimes, notBefore };
}

/** Whether a forced renewal may still run: the hourly cap holds even then. */
export function withinHourlyCap(state: CertificateState, nowMs: number): boolean {
  return state.failureTimes.filter((at) => at > nowMs - hourMs).length < maxFailuresPerHour;
}
