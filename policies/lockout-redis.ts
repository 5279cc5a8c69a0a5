import { createHash } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { lockoutScript } from './lockout-redis-script.ts';
import type {
  LockEntry,
  LockoutSettings,
  LockoutStore,
  LockScope,
  NewLock,
  Subject,
} from './lockout-store.ts';
import type { RedisClient } from './redis-client.ts';

const scriptSha = createHash('sha1').update(lockoutScript).digest('hex');
const SCAN_BATCH = 500;

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`);
}

function isScope(value: unknown): value is LockScope {
  return value === 'account' || value === 'address' || value === 'device';
}

// Lockout state shared by every guard using the same Redis. The client is the
// shared store's: it adds the key prefix itself, and the records of one
// account share a hash tag so one script can touch them all on a Cluster.
export function createRedisLockoutStore(
  redis: RedisClient,
  settings: LockoutSettings,
): LockoutStore {
  const recordPrefix = 'lockout:';
  const secondFactorPrefix = 'lockout-2fa:';
  // SCAN is the one command ioredis does not prefix: its pattern and the keys
  // it returns carry the prefix, which is taken off before they are used.
  const clientPrefix = redis.options.keyPrefix ?? '';

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
    const entries: LockEntry[] = [];
    for (const key of keys) {
      const [until, level, account, scope, label] = await redis.hmget(
        key,
        'lu',
        'lv',
        'a',
        's',
        'l',
      );
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

  const scanNode = async (node: Redis, pattern: string, keys: string[]) => {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
      cursor = next;
      for (const key of batch) keys.push(key.slice(clientPrefix.length));
    } while (cursor !== '0');
  };
  /** Keys matching a pattern (written without the client's prefix), without it. */
  const scanKeys = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    const full = `${escapeGlob(clientPrefix)}${pattern}`;
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    for (const node of nodes) await scanNode(node, full, keys);
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
        const untilMs = Number(reply[at + 1]);
        locks.push({ scope, account, label, untilMs, level: Number(reply[at + 2]) });
      }
      return locks;
    },
    async list(nowMs) {
      return readEntries(await scanKeys(`${escapeGlob(recordPrefix)}*`), nowMs);
    },
    async unlock(accountKey, nowMs) {
      const keys = await scanKeys(`${escapeGlob(`${recordPrefix}{${accountKey}}:`)}*`);
      const entries = await readEntries(keys, nowMs);
      for (const key of keys) await redis.del(key);
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
