// The state behind account lockout, kept in memory or in Redis behind one
// interface so that both behave alike (the same tests run against both).
// Every call takes the time from the caller: tests drive a clock, and several
// guards sharing Redis agree on windows however their event loops lag.

/** Whose failures a record counts. */
export type LockScope = 'account' | 'address' | 'device';

export type Subject = {
  /**
   * Store key, without the store's prefix: "{account key}:" and the scope's
   * part, derived from hashes, never from raw input.
   */
  readonly key: string;
  readonly scope: LockScope;
  /** The normalised email, kept in the record so operators can list locks. */
  readonly account: string;
  /** The client address for `address` records, for listings; "" otherwise. */
  readonly label: string;
  readonly maxFailures: number;
};

export type LockoutSettings = {
  readonly windowMs: number;
  /** Lock lengths by escalation level; the last one repeats. */
  readonly lockMs: readonly number[];
  /** How long a past lock still counts towards the next one's length. */
  readonly escalationMemoryMs: number;
  /** An attempt whose outcome never arrives stops counting after this. */
  readonly pendingMs: number;
};

export type Admission =
  | { readonly admitted: true }
  | {
      readonly admitted: false;
      readonly reason: 'locked' | 'busy';
      readonly scope: LockScope;
      readonly retryAfterMs: number;
    };

export type Outcome = 'failure' | 'success' | 'neither';

export type NewLock = {
  readonly scope: LockScope;
  readonly account: string;
  readonly label: string;
  readonly untilMs: number;
  readonly level: number;
};

export type LockEntry = NewLock;

export type LockoutStore = {
  readonly kind: 'memory' | 'redis';
  /**
   * Atomically: refused if any subject is locked, or if its failures plus the
   * attempts still in flight reach its maximum; otherwise each subject counts
   * one more attempt in flight. Parallel guesses therefore cannot pass N.
   */
  admit(subjects: readonly Subject[], nowMs: number): Promise<Admission>;
  /** Ends an admitted attempt; returns the locks it started. */
  settle(subjects: readonly Subject[], outcome: Outcome, nowMs: number): Promise<NewLock[]>;
  /** Locks in force, every scope. */
  list(nowMs: number): Promise<LockEntry[]>;
  /** Clears every record of an account (all scopes); returns the locks that were in force. */
  unlock(accountKey: string, nowMs: number): Promise<LockEntry[]>;
  /** Which account a pending second-factor step belongs to. */
  rememberSecondFactor(
    handle: string,
    account: string,
    ttlMs: number,
    nowMs: number,
  ): Promise<void>;
  recallSecondFactor(handle: string, nowMs: number): Promise<string | undefined>;
  close(): Promise<void>;
};

export function lockLengthMs(settings: LockoutSettings, level: number): number {
  const steps = settings.lockMs;
  return steps[Math.min(level, steps.length - 1)] ?? 0;
}
