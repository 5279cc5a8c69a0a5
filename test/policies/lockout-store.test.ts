import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLockoutStore } from '../../policies/lockout-memory.ts';
import { createRedisLockoutStore } from '../../policies/lockout-redis.ts';
import type { LockoutSettings, LockoutStore, Subject } from '../../policies/lockout-store.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';

const minute = 60_000;
const settings: LockoutSettings = {
  windowMs: 15 * minute,
  lockMs: [15 * minute, 30 * minute, 60 * minute],
  escalationMemoryMs: 24 * 60 * minute,
  pendingMs: 2 * minute,
};
const start = Date.UTC(2026, 0, 1);

let redisServer: TestRedis;
let redis: Redis;
beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = new Redis(redisServer.url, { lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  for (const client of prefixed) client.disconnect();
  redis.disconnect();
  await redisServer.close();
});

// Each store gets a client of its own prefix, as the shared store's client
// carries store.redis.keyPrefix: no test sees another's keys.
const prefixed: Redis[] = [];
function prefixedClient(): Redis {
  const client = new Redis(redisServer.url, { keyPrefix: `test-${randomUUID()}:` });
  prefixed.push(client);
  return client;
}

const factories: [string, () => LockoutStore][] = [
  ['memory', () => createMemoryLockoutStore(settings)],
  ['redis', () => createRedisLockoutStore(prefixedClient(), settings)],
];

function subjects(account = 'alice@example.com', address = '192.0.2.7'): Subject[] {
  const id = account.replace(/\W/g, '');
  return [
    { key: `{${id}}:a`, scope: 'account', account, label: '', maxFailures: 5 },
    { key: `{${id}}:p:${address}`, scope: 'address', account, label: address, maxFailures: 5 },
  ];
}

async function fail(store: LockoutStore, who: Subject[], nowMs: number, times = 1) {
  const locks = [];
  for (let i = 0; i < times; i += 1) {
    expect(await store.admit(who, nowMs)).toEqual({ admitted: true });
    locks.push(...(await store.settle(who, 'failure', nowMs)));
  }
  return locks;
}

describe.each(factories)('lockout store in %s', (_name, create) => {
  it('locks after five failures in the window and refuses the sixth attempt', async () => {
    const store = create();
    const who = subjects();
    expect(await fail(store, who, start, 4)).toEqual([]);
    const locks = await fail(store, who, start + minute);
    expect(locks.map((lock) => lock.scope).sort()).toEqual(['account', 'address']);
    expect(locks[0]).toMatchObject({ untilMs: start + 16 * minute, level: 1 });
    expect(await store.admit(who, start + 2 * minute)).toEqual({
      admitted: false,
      reason: 'locked',
      scope: 'account',
      retryAfterMs: 14 * minute,
    });
    expect((await store.admit(who, start + 16 * minute)).admitted).toBe(true);
  });

  it('escalates 15, 30, 60 minutes and stays at the cap', async () => {
    const store = create();
    const who = subjects();
    let now = start;
    const lengths: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      const [lock] = await fail(store, who, now, 5);
      if (!lock) throw new Error('expected a lock');
      lengths.push((lock.untilMs - now) / minute);
      now = lock.untilMs;
    }
    expect(lengths).toEqual([15, 30, 60, 60]);
  });

  it('forgets past locks after the escalation memory', async () => {
    const store = create();
    const who = subjects();
    const [first] = await fail(store, who, start, 5);
    const later = (first?.untilMs ?? 0) + settings.escalationMemoryMs + 1;
    const [second] = await fail(store, who, later, 5);
    expect((second?.untilMs ?? 0) - later).toBe(15 * minute);
  });

  it('counts failures only within the window', async () => {
    const store = create();
    const who = subjects();
    await fail(store, who, start, 4);
    expect(await fail(store, who, start + 16 * minute, 4)).toEqual([]);
    expect((await store.admit(who, start + 17 * minute)).admitted).toBe(true);
  });

  it('lets at most five of fifty parallel attempts through', async () => {
    const store = create();
    const who = subjects();
    const admissions = await Promise.all(Array.from({ length: 50 }, () => store.admit(who, start)));
    expect(admissions.filter((admission) => admission.admitted)).toHaveLength(5);
    expect(admissions.find((admission) => !admission.admitted)).toMatchObject({ reason: 'busy' });
  });

  it('gives back attempts that were neither success nor failure', async () => {
    const store = create();
    const who = subjects();
    for (let i = 0; i < 5; i += 1) expect((await store.admit(who, start)).admitted).toBe(true);
    expect((await store.admit(who, start)).admitted).toBe(false);
    await store.settle(who, 'neither', start);
    expect((await store.admit(who, start)).admitted).toBe(true);
  });

  it('forgets attempts whose outcome never arrived', async () => {
    const store = create();
    const who = subjects();
    for (let i = 0; i < 5; i += 1) await store.admit(who, start);
    expect((await store.admit(who, start + minute)).admitted).toBe(false);
    expect((await store.admit(who, start + settings.pendingMs + 1)).admitted).toBe(true);
  });

  it('resets failures and escalation on success', async () => {
    const store = create();
    const who = subjects();
    const [lock] = await fail(store, who, start, 5);
    const after = lock?.untilMs ?? 0;
    await fail(store, who, after, 4);
    await store.admit(who, after);
    await store.settle(who, 'success', after);
    expect(await fail(store, who, after, 4)).toEqual([]);
    const [next] = await fail(store, who, after);
    expect((next?.untilMs ?? 0) - after).toBe(15 * minute);
  });

  it('keeps accounts apart', async () => {
    const store = create();
    await fail(store, subjects('bob@example.com'), start, 5);
    expect((await store.admit(subjects('carol@example.com'), start)).admitted).toBe(true);
  });

  it('lists locks in force and unlocks every scope of one account', async () => {
    const store = create();
    const alice = subjects('alice@example.com');
    const device: Subject = {
      key: '{aliceexamplecom}:d:dev1',
      scope: 'device',
      account: 'alice@example.com',
      label: '',
      maxFailures: 5,
    };
    await fail(store, alice, start, 5);
    await fail(store, [device], start, 5);
    await fail(store, subjects('bob@example.com'), start, 5);
    const listed = await store.list(start + minute);
    expect(listed).toHaveLength(5);
    expect(listed).toContainEqual({
      scope: 'address',
      account: 'alice@example.com',
      label: '192.0.2.7',
      untilMs: start + 15 * minute,
      level: 1,
    });

    const cleared = await store.unlock('aliceexamplecom', start + minute);
    expect(cleared.map((entry) => entry.scope).sort()).toEqual(['account', 'address', 'device']);
    expect((await store.admit(alice, start + minute)).admitted).toBe(true);
    expect((await store.admit([device], start + minute)).admitted).toBe(true);
    expect((await store.list(start + minute)).map((entry) => entry.account)).toEqual([
      'bob@example.com',
      'bob@example.com',
    ]);
  });

  it('remembers which account a second-factor step belongs to, for a while', async () => {
    const store = create();
    await store.rememberSecondFactor('handle-1', 'alice@example.com', minute, start);
    expect(await store.recallSecondFactor('handle-1', start)).toBe('alice@example.com');
    expect(await store.recallSecondFactor('handle-2', start)).toBeUndefined();
  });
});
