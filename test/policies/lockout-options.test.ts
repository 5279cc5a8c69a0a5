import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockoutSchema } from '../../config/lockout-schema.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { closeLockoutConnections, type Setup, setupLockout } from './lockout-setup.ts';

let redisServer: TestRedis;
let redis: Redis;
const setup = (options: Setup) => setupLockout(redis, options);

beforeAll(async () => {
  redisServer = await startTestRedis();
  redis = new Redis(redisServer.url, { lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  closeLockoutConnections();
  redis.disconnect();
  await redisServer.close();
});

describe('lockout options', () => {
  it('has the documented defaults', () => {
    expect(lockoutSchema.parse({})).toEqual({
      enabled: true,
      maxFailures: 5,
      maxFailuresPerAddress: 5,
      windowSeconds: 900,
      lockSeconds: [900, 1800, 3600],
      escalationMemorySeconds: 86400,
      deviceCookie: true,
      deviceCookieDays: 90,
      onStoreError: 'memory',
    });
    expect(lockoutSchema.safeParse({ deviceCookieSecret: 'too short' }).success).toBe(false);
    expect(lockoutSchema.safeParse({ lockSeconds: [] }).success).toBe(false);
  });

  it('counts nothing when disabled', async () => {
    const t = setup({ shared: true, config: { enabled: false } });
    expect((await t.policy.admit(t.attempt('a@example.com'))).kind).toBe('skip');
  });

  it('takes its own maximum, window and lock lengths', async () => {
    const t = setup({
      shared: true,
      config: { maxFailures: 2, maxFailuresPerAddress: 2, windowSeconds: 60, lockSeconds: [120] },
    });
    await t.wrong(t.attempt('b@example.com'));
    t.advance(61_000);
    await t.wrong(t.attempt('b@example.com'));
    expect((await t.policy.admit(t.attempt('b@example.com'))).kind).toBe('admit');
    const later = setup({ shared: true, config: { maxFailures: 2, lockSeconds: [120] } });
    await later.wrong(later.attempt('b@example.com'));
    await later.wrong(later.attempt('b@example.com'));
    expect(await later.policy.admit(later.attempt('b@example.com'))).toMatchObject({
      refusal: { headers: { 'retry-after': '120' } },
    });
  });

  it('locks one address out of an account before the whole account', async () => {
    const t = setup({ shared: true, config: { maxFailures: 20, maxFailuresPerAddress: 3 } });
    for (let i = 0; i < 3; i += 1) await t.wrong(t.attempt('c@example.com', '198.51.100.1'));
    expect((await t.policy.admit(t.attempt('c@example.com', '198.51.100.1'))).kind).toBe('refuse');
    expect((await t.policy.admit(t.attempt('c@example.com', '198.51.100.2'))).kind).toBe('admit');
    const locked = t.events.filter((event) => event.type === 'account.locked');
    expect(locked.map((event) => event.details?.scope)).toEqual(['address']);
  });

  it('forgets escalation after escalationMemorySeconds', async () => {
    const t = setup({ shared: false, config: { escalationMemorySeconds: 60 } });
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('d@example.com'));
    t.advance(900_000 + 61_000);
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('d@example.com'));
    expect(await t.policy.admit(t.attempt('d@example.com'))).toMatchObject({
      refusal: { headers: { 'retry-after': '900' } },
    });
  });

  it('issues no device cookie and honours none when deviceCookie is off', async () => {
    const key = randomBytes(32);
    const withCookies = setup({ shared: true, deviceKey: key });
    const cookie = await withCookies.right(withCookies.attempt('e@example.com'));
    expect(cookie).not.toBe('');

    const t = setup({ shared: true, deviceKey: key, config: { deviceCookie: false } });
    expect(await t.right(t.attempt('e@example.com'))).toBe('');
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('e@example.com', '203.0.113.5'));
    expect((await t.policy.admit(t.attempt('e@example.com', '1.1.1.1', cookie))).kind).toBe(
      'refuse',
    );
  });

  it('accepts device cookies across guards that share the secret, and no others', async () => {
    const shared = randomBytes(32);
    const first = setup({ shared: true, deviceKey: shared });
    const cookie = await first.right(first.attempt('f@example.com'));
    for (const [key, admitted] of [
      [shared, 'admit'],
      [randomBytes(32), 'refuse'],
    ] as const) {
      const other = setup({ shared: true, deviceKey: key });
      for (let i = 0; i < 5; i += 1) await other.wrong(other.attempt('f@example.com'));
      expect(
        (await other.policy.admit(other.attempt('f@example.com', '1.1.1.1', cookie))).kind,
      ).toBe(admitted);
    }
  });
});
