import {
  type Admission,
  type LockoutSettings,
  lockLengthMs,
  type NewLock,
  type Outcome,
  type Subject,
} from './lockout-store.ts';

// One subject's counters. The Redis store keeps the same fields in a hash and
// runs the same steps in a Lua script (lockout-redis-script.ts); a change here
// must be made there too, and the shared tests hold them together.
export type LockRecord = {
  failures: number;
  windowEndsMs: number;
  pending: number;
  pendingEndsMs: number;
  lockedUntilMs: number;
  level: number;
  levelEndsMs: number;
  account: string;
  scope: Subject['scope'];
  label: string;
};

export function emptyRecord(subject: Subject): LockRecord {
  return {
    failures: 0,
    windowEndsMs: 0,
    pending: 0,
    pendingEndsMs: 0,
    lockedUntilMs: 0,
    level: 0,
    levelEndsMs: 0,
    account: subject.account,
    scope: subject.scope,
    label: subject.label,
  };
}

// Counters whose time has passed read as zero.
export function refresh(record: LockRecord, nowMs: number): void {
  if (record.windowEndsMs <= nowMs) {
    record.failures = 0;
    record.windowEndsMs = 0;
  }
  if (record.pendingEndsMs <= nowMs) {
    record.pending = 0;
    record.pendingEndsMs = 0;
  }
}

export function admitRecords(
  records: readonly LockRecord[],
  subjects: readonly Subject[],
  nowMs: number,
  settings: LockoutSettings,
): Admission {
  for (const [index, record] of records.entries()) {
    if (record.lockedUntilMs <= nowMs) continue;
    const scope = subjects[index]?.scope ?? 'account';
    return { admitted: false, reason: 'locked', scope, retryAfterMs: record.lockedUntilMs - nowMs };
  }
  for (const [index, record] of records.entries()) {
    refresh(record, nowMs);
    const max = subjects[index]?.maxFailures ?? 0;
    if (record.failures + record.pending < max) continue;
    const scope = subjects[index]?.scope ?? 'account';
    const retryAfterMs = Math.max(1000, record.pendingEndsMs - nowMs);
    return { admitted: false, reason: 'busy', scope, retryAfterMs };
  }
  for (const record of records) {
    record.pending += 1;
    record.pendingEndsMs = nowMs + settings.pendingMs;
  }
  return { admitted: true };
}

export function settleRecord(
  record: LockRecord,
  subject: Subject,
  outcome: Outcome,
  nowMs: number,
  settings: LockoutSettings,
): NewLock | undefined {
  refresh(record, nowMs);
  record.pending = Math.max(0, record.pending - 1);
  if (outcome === 'neither') return undefined;
  if (outcome === 'success') {
    record.failures = 0;
    record.windowEndsMs = 0;
    record.level = 0;
    record.levelEndsMs = 0;
    return undefined;
  }

  if (record.windowEndsMs === 0) record.windowEndsMs = nowMs + settings.windowMs;
  record.failures += 1;
  if (record.failures < subject.maxFailures) return undefined;

  const level = record.levelEndsMs > nowMs ? record.level : 0;
  record.lockedUntilMs = nowMs + lockLengthMs(settings, level);
  record.level = level + 1;
  record.levelEndsMs = record.lockedUntilMs + settings.escalationMemoryMs;
  record.failures = 0;
  record.windowEndsMs = 0;
  const { scope, account, label } = record;
  return { scope, account, label, untilMs: record.lockedUntilMs, level: record.level };
}

/** When nothing in the record matters any more. */
export function recordEndsMs(record: LockRecord): number {
  return Math.max(
    record.windowEndsMs,
    record.pendingEndsMs,
    record.lockedUntilMs,
    record.levelEndsMs,
  );
}
