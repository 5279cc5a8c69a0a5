import { createHash } from 'node:crypto';
import type { SecurityEvents } from '../audit/security-events.ts';
import type { ErrorCode } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { LockoutConfig } from '../config/lockout-schema.ts';
import type { AuthMetrics } from './auth-metrics.ts';
import { cookieValues, createDeviceCookies } from './device-cookie.ts';
import { createMemoryLockoutStore } from './lockout-memory.ts';
import type {
  LockEntry,
  LockoutSettings,
  LockoutStore,
  NewLock,
  Subject,
} from './lockout-store.ts';
import { accountKey, anonymousSubjects, deviceSubjects } from './lockout-subjects.ts';
import { classifyOutcome, normaliseAccount, type SignInStep } from './sign-in-outcome.ts';

export type PolicyRefusal = {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message?: string;
  readonly headers?: Record<string, string>;
};

export type LoginAttempt = {
  readonly step: SignInStep;
  /** The email of a password sign-in, as the client typed it. */
  readonly email?: string | undefined;
  readonly cookieHeader: string | undefined;
  readonly clientIp: string;
  readonly requestId: string;
  readonly route: string;
};

export type LoginTicket = {
  readonly attempt: LoginAttempt;
  readonly account: string;
  readonly subjects: readonly Subject[];
  /** The store that admitted it (the fallback while the shared one is down). */
  readonly store: LockoutStore | undefined;
  readonly deviceId: string | undefined;
};

export type Admit =
  | { readonly kind: 'skip' }
  | { readonly kind: 'refuse'; readonly refusal: PolicyRefusal }
  | { readonly kind: 'admit'; readonly ticket: LoginTicket };

export type LockoutPolicy = {
  readonly enabled: boolean;
  admit(attempt: LoginAttempt): Promise<Admit>;
  /** Set-Cookie values to add to the app's answer, decided from its headers. */
  responseCookies(ticket: LoginTicket, status: number, setCookies: readonly string[]): string[];
  settle(
    ticket: LoginTicket,
    status: number,
    code: string | undefined,
    setCookies: readonly string[],
  ): Promise<void>;
  list(): Promise<LockEntry[]>;
  unlock(email: string, by: string): Promise<LockEntry[]>;
};

export type LockoutDependencies = {
  readonly store: LockoutStore | undefined;
  readonly deviceKey: Buffer;
  readonly events: SecurityEvents;
  readonly metrics: AuthMetrics;
  readonly logger: Logger;
  /** How long an attempt may wait for the app's answer. */
  readonly pendingMs: number;
  readonly now?: () => number;
  readonly storeTimeoutMs?: number;
};

// better-auth's cookie for a sign-in waiting for its second factor.
const SECOND_FACTOR_COOKIES = ['better-auth.two_factor', '__Secure-better-auth.two_factor'];
const SECOND_FACTOR_TTL_MS = 10 * 60 * 1000;
const LOCKED_MESSAGE = 'Too many failed sign-in attempts. Try again later.';

export function lockoutSettings(config: LockoutConfig, pendingMs: number): LockoutSettings {
  return {
    windowMs: config.windowSeconds * 1000,
    lockMs: config.lockSeconds.map((seconds) => seconds * 1000),
    escalationMemoryMs: config.escalationMemorySeconds * 1000,
    pendingMs,
  };
}

function handleOf(value: string): string {
  return createHash('sha256').update(`second-factor\0${value}`).digest('hex').slice(0, 32);
}

function secondFactorValue(cookies: readonly string[]): string | undefined {
  for (const cookie of cookies) {
    const [pair = ''] = cookie.split(';');
    const at = pair.indexOf('=');
    if (at > 0 && SECOND_FACTOR_COOKIES.includes(pair.slice(0, at).trim())) {
      const value = pair.slice(at + 1).trim();
      if (value) return value;
    }
  }
  return undefined;
}

export function buildLockoutPolicy(config: LockoutConfig, deps: LockoutDependencies) {
  const now = deps.now ?? Date.now;
  const settings = lockoutSettings(config, deps.pendingMs);
  const shared = deps.store ?? createMemoryLockoutStore(settings);
  const fallback = shared.kind === 'memory' ? shared : createMemoryLockoutStore(settings);
  const devices = createDeviceCookies(deps.deviceKey, config.deviceCookieDays);
  const timeoutMs = deps.storeTimeoutMs ?? 1000;
  const { events, metrics, logger } = deps;

  const withTimeout = <T>(work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('lockout store timed out')), timeoutMs);
    });
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  };
  // Every failed call is counted; the log says so at most every 10 s, so an
  // outage under load does not flood it.
  let lastWarnedMs = Number.NEGATIVE_INFINITY;
  const storeFailed = (error: unknown, operation: string) => {
    metrics.lockoutStoreErrors.inc();
    if (performance.now() - lastWarnedMs < 10_000) return;
    lastWarnedMs = performance.now();
    const reason = error instanceof Error ? error.message.slice(0, 120) : 'unknown';
    logger.warn({ policy: 'lockout', operation, reason }, 'lockout store unavailable');
  };

  const resolveAccount = async (attempt: LoginAttempt): Promise<string | undefined> => {
    if (attempt.step === 'password') {
      return attempt.email === undefined ? undefined : normaliseAccount(attempt.email);
    }
    const values = SECOND_FACTOR_COOKIES.flatMap((name) =>
      cookieValues(attempt.cookieHeader, name),
    );
    for (const value of values) {
      try {
        const account = await withTimeout(shared.recallSecondFactor(handleOf(value), now()));
        if (account) return account;
      } catch (error) {
        storeFailed(error, 'recall');
        const account = await fallback.recallSecondFactor(handleOf(value), now());
        if (account) return account;
      }
    }
    return undefined;
  };

  const emitAttempt = (
    ticket: LoginTicket,
    type: string,
    outcome: 'success' | 'failure' | 'denied' | 'info',
    details: Record<string, string | number | boolean>,
  ) => {
    const { attempt } = ticket;
    events.emit({
      type,
      outcome,
      actor: { account: ticket.account },
      clientIp: attempt.clientIp,
      requestId: attempt.requestId,
      route: attempt.route,
      details: { step: attempt.step, device: ticket.deviceId !== undefined, ...details },
    });
  };

  const emitLock = (ticket: LoginTicket, lock: NewLock) => {
    metrics.lockouts.inc({ scope: lock.scope });
    emitAttempt(ticket, 'account.locked', 'denied', {
      scope: lock.scope,
      level: lock.level,
      lockedUntil: new Date(lock.untilMs).toISOString(),
    });
  };

  const refuse = (reason: 'locked' | 'busy', retryAfterMs: number): Admit => {
    metrics.loginRefusals.inc({ reason });
    const seconds = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    // The same answer for every email, existing or not, locked or merely busy.
    const headers = { 'retry-after': seconds, 'x-retry-after': seconds };
    return {
      kind: 'refuse',
      refusal: { status: 429, code: 'GUARD_ERR_LOGIN_LOCKED', message: LOCKED_MESSAGE, headers },
    };
  };

  const policy: LockoutPolicy = {
    enabled: config.enabled,
    async admit(attempt) {
      if (!config.enabled) return { kind: 'skip' };
      const account = await resolveAccount(attempt);
      if (account === undefined || account === '') return { kind: 'skip' };
      const deviceId = config.deviceCookie
        ? devices.verify(attempt.cookieHeader, account, now())
        : undefined;
      const subjects = deviceId
        ? deviceSubjects(account, deviceId, config)
        : anonymousSubjects(account, attempt.clientIp, config);

      let store: LockoutStore | undefined = shared;
      let admission: Awaited<ReturnType<LockoutStore['admit']>>;
      try {
        admission = await withTimeout(shared.admit(subjects, now()));
      } catch (error) {
        storeFailed(error, 'admit');
        if (config.onStoreError === 'deny') {
          metrics.loginRefusals.inc({ reason: 'store' });
          const headers = { 'retry-after': '5' };
          return {
            kind: 'refuse',
            refusal: { status: 503, code: 'GUARD_ERR_STORE_UNAVAILABLE', headers },
          };
        }
        store = config.onStoreError === 'memory' ? fallback : undefined;
        admission = store ? await store.admit(subjects, now()) : { admitted: true };
      }

      const ticket: LoginTicket = { attempt, account, subjects, store, deviceId };
      if (admission.admitted) return { kind: 'admit', ticket };
      emitAttempt(ticket, 'login.blocked', 'denied', {
        reason: admission.reason,
        scope: admission.scope,
      });
      return refuse(admission.reason, admission.retryAfterMs);
    },

    responseCookies(ticket, status, setCookies) {
      if (!config.deviceCookie || status !== 200) return [];
      // A password step that still needs its second factor is not a sign-in yet.
      if (ticket.attempt.step === 'password' && secondFactorValue(setCookies)) return [];
      return [devices.issue(ticket.account, now(), ticket.deviceId)];
    },

    async settle(ticket, status, code, setCookies) {
      const { step } = ticket.attempt;
      const outcome = classifyOutcome(step, status, code);
      metrics.loginOutcomes.inc({ step, outcome });
      let locks: NewLock[] = [];
      if (ticket.store) {
        try {
          const work = ticket.store.settle(ticket.subjects, outcome, now());
          locks = ticket.store === fallback ? await work : await withTimeout(work);
        } catch (error) {
          storeFailed(error, 'settle');
        }
      }

      const pending = step === 'password' && outcome === 'success' && secondFactorValue(setCookies);
      if (pending) {
        const handle = handleOf(pending);
        try {
          await withTimeout(
            shared.rememberSecondFactor(handle, ticket.account, SECOND_FACTOR_TTL_MS, now()),
          );
        } catch (error) {
          storeFailed(error, 'remember');
          await fallback.rememberSecondFactor(handle, ticket.account, SECOND_FACTOR_TTL_MS, now());
        }
        emitAttempt(ticket, 'login.second_factor_required', 'info', { status });
      } else if (outcome === 'success') {
        emitAttempt(ticket, 'login.succeeded', 'success', { status });
      } else if (outcome === 'failure') {
        emitAttempt(ticket, 'login.failed', 'failure', { status });
      }
      for (const lock of locks) emitLock(ticket, lock);
    },

    list: () => withTimeout(shared.list(now())),

    async unlock(email, by) {
      const account = normaliseAccount(email);
      const cleared = await withTimeout(shared.unlock(accountKey(account), now()));
      if (fallback !== shared) cleared.push(...(await fallback.unlock(accountKey(account), now())));
      events.emit({
        type: 'account.unlocked',
        outcome: 'success',
        actor: { account: by },
        details: { account, cleared: cleared.length },
      });
      return cleared;
    },
  };
  return policy;
}
