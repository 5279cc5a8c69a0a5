import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { lockoutScript } from './lockout-redis-script.ts';
import type {
  LockEntry,
  LockoutSettings,
  LockoutStore,
  LockScope,
  NewLock,
  Subject,
} from './lockout-store.ts';

const scriptSha = createHash('sha1').update(lockoutScript).digest('hex');
const SCAN_BATCH = 500;

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}

function isScope(value: unknown): value is LockScope {
  return value === 'account' || value === 'address' || value === 'device';
}

// Lockout state shared by every guard using the same Redis. The client is the
// caller's and stays open; only what this store owns is closed.
export function createRedisLockoutStore(
  redis: Redis,
  keyPrefix: string,
  settings: LockoutSettings,
): LockoutStore {
  const recordPrefix = `${keyPrefix}lockout:`;
  const secondFactorPrefix = `${keyPrefix}lockout-2fa:`;

  const run = async (op: string, subjects: readonly Subject[], nowMs: number) => {
    const keys = subjects.map((subject) => `${recordPrefix}${subject.key}`);
    const args = [
      op,
      String(Math.round(nowMs)),
      String(settings.windowMs),
      String(settings.pendingMs),
      String(settings.escalationMemoryMs),
      settings.lockMs.join(','),
    ];
    for (const subject of subjects) {
      args.push(String(subject.maxFailures), subject.account, subject.scope, subject.label);
    }
    try {
      return (await redis.evalsha(scriptSha, keys.length, ...keys, ...args)) as number[];
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return (await redis.eval(lockoutScript, keys.length, ...keys, ...args)) as number[];
    }
  };

  const readEntries = async (keys: string[], nowMs: number): Promise<LockEntry[]> => {
    if (keys.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.hmget(key, 'lu', 'lv', 'a', 's', 'l');
    const replies = (await pipeline.exec()) ?? [];
    const entries: LockEntry[] = [];
    for (const [error, value] of replies) {
      if (error || !Array.isArray(value)) continue;
      const [until, level, account, scope, label] = value as (string | null)[];
      const untilMs = Number(until ?? 0);
      if (untilMs <= nowMs || !isScope(scope)) continue;
      entries.push({
        scope,
        account: account ?? '',
        label: label ?? '',
        untilMs,
        level: Number(level),
      });
    }
    return entries;
  };

  const scanKeys = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  return {
    kind: 'redis',
    async admit(subjects, nowMs) {
      const [admitted, reason, index, retryAfterMs] = await run('admit', subjects, nowMs);
      if (admitted === 1) return { admitted: true };
      const scope = subjects[(index ?? 1) - 1]?.scope ?? 'account';
      return {
        admitted: false,
        reason: reason === 1 ? 'locked' : 'busy',
        scope,
        retryAfterMs: Number(retryAfterMs ?? 1000),
      };
    },
    async settle(subjects, outcome, nowMs) {
      const reply = await run(outcome, subjects, nowMs);
      const locks: NewLock[] = [];
      for (let at = 0; at + 2 < reply.length; at += 3) {
        const subject = subjects[(reply[at] ?? 1) - 1];
        if (!subject) continue;
        const { scope, account, label } = subject;
        locks.push({
          scope,
          account,
          label,
          untilMs: Number(reply[at + 1]),
          level: Number(reply[at + 2]),
        });
      }
      return locks;
    },
    async list(nowMs) {
      return readEntries(await scanKeys(`${escapeGlob(recordPrefix)}*`), nowMs);
    },
    async unlock(accountKey, nowMs) {
      const base = escapeGlob(recordPrefix);
      const keys = [
        `${recordPrefix}a:${accountKey}`,
        ...(await scanKeys(`${base}p:${accountKey}:*`)),
        ...(await scanKeys(`${base}d:${accountKey}:*`)),
      ];
      const entries = await readEntries(keys, nowMs);
      await redis.del(...keys);
      return entries;
    },
    async rememberSecondFactor(handle, account, ttlMs) {
      await redis.set(`${secondFactorPrefix}${handle}`, account, 'PX', Math.max(1, ttlMs));
    },
    async recallSecondFactor(handle) {
      return (await redis.get(`${secondFactorPrefix}${handle}`)) ?? undefined;
    },
    async close() {},
  };
}
