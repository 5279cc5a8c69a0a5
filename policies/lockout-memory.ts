import {
  admitRecords,
  emptyRecord,
  type LockRecord,
  recordEndsMs,
  settleRecord,
} from './lockout-record.ts';
import type { LockEntry, LockoutSettings, LockoutStore, NewLock } from './lockout-store.ts';

// Past this many records the oldest are dropped: a spray of made-up emails must
// not grow the process without bound. Rate limits keep real traffic far below.
const DEFAULT_MAX_RECORDS = 200_000;
const SWEEP_EVERY_OPERATIONS = 1000;

function toEntry(record: LockRecord): LockEntry {
  const { scope, account, label, lockedUntilMs: untilMs, level } = record;
  return { scope, account, label, untilMs, level };
}

// One process's lockout state. Single-threaded JavaScript makes each call
// atomic: nothing else runs between reading and writing the records.
export function createMemoryLockoutStore(
  settings: LockoutSettings,
  maxRecords = DEFAULT_MAX_RECORDS,
): LockoutStore {
  const records = new Map<string, LockRecord>();
  const secondFactors = new Map<string, { account: string; endsMs: number }>();
  let operations = 0;

  const sweep = (nowMs: number) => {
    for (const [key, record] of records) if (recordEndsMs(record) <= nowMs) records.delete(key);
    for (const [key, pending] of secondFactors)
      if (pending.endsMs <= nowMs) secondFactors.delete(key);
  };
  const tick = (nowMs: number) => {
    operations += 1;
    if (operations % SWEEP_EVERY_OPERATIONS === 0) sweep(nowMs);
    while (records.size > maxRecords) {
      const oldest = records.keys().next().value;
      if (oldest === undefined) break;
      records.delete(oldest);
    }
  };

  return {
    kind: 'memory',
    async admit(subjects, nowMs) {
      tick(nowMs);
      const found = subjects.map((subject) => records.get(subject.key) ?? emptyRecord(subject));
      const admission = admitRecords(found, subjects, nowMs, settings);
      if (admission.admitted) {
        for (const [index, subject] of subjects.entries()) {
          const record = found[index];
          if (record) records.set(subject.key, record);
        }
      }
      return admission;
    },
    async settle(subjects, outcome, nowMs) {
      const locks: NewLock[] = [];
      for (const subject of subjects) {
        const record = records.get(subject.key) ?? emptyRecord(subject);
        const lock = settleRecord(record, subject, outcome, nowMs, settings);
        if (lock) locks.push(lock);
        if (recordEndsMs(record) > nowMs) records.set(subject.key, record);
        else records.delete(subject.key);
      }
      return locks;
    },
    async list(nowMs) {
      sweep(nowMs);
      return [...records.values()].filter((r) => r.lockedUntilMs > nowMs).map(toEntry);
    },
    async unlock(accountKey, nowMs) {
      const cleared: LockEntry[] = [];
      for (const [key, record] of records) {
        if (!key.startsWith(`{${accountKey}}:`)) continue;
        if (record.lockedUntilMs > nowMs) cleared.push(toEntry(record));
        records.delete(key);
      }
      return cleared;
    },
    async rememberSecondFactor(handle, account, ttlMs, nowMs) {
      tick(nowMs);
      secondFactors.set(handle, { account, endsMs: nowMs + ttlMs });
    },
    async recallSecondFactor(handle, nowMs) {
      const pending = secondFactors.get(handle);
      if (!pending || pending.endsMs <= nowMs) return undefined;
      return pending.account;
    },
    async close() {
      records.clear();
      secondFactors.clear();
    },
  };
}
