import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_COOKIE_NAME } from '../../policies/device-cookie.ts';
import type { LoginAttempt } from '../../policies/lockout-policy.ts';
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

describe.each([false, true])('lockout policy (shared store: %s)', (shared) => {
  it('locks after five failures with an answer that names no account', async () => {
    const t = setup({ shared });
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('alice@example.com'));
    const locked = await t.policy.admit(t.attempt('alice@example.com'));
    expect(locked).toEqual({
      kind: 'refuse',
      refusal: {
        status: 429,
        code: 'GUARD_ERR_LOGIN_LOCKED',
        message: 'Too many failed sign-in attempts. Try again later.',
        headers: { 'retry-after': '900', 'x-retry-after': '900' },
      },
    });
    // An unknown email is locked the same way after the same failures.
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('nobody@example.com'));
    expect(await t.policy.admit(t.attempt('nobody@example.com'))).toEqual(locked);

    const types = t.events.map((event) => event.type);
    expect(types.filter((type) => type === 'login.failed')).toHaveLength(10);
    const lock = t.events.find((event) => event.type === 'account.locked');
    expect(lock).toMatchObject({
      outcome: 'denied',
      actor: { account: 'alice@example.com' },
      clientIp: '203.0.113.9',
      details: { scope: 'account', level: 1 },
    });
    expect(t.events.at(-1)).toMatchObject({ type: 'login.blocked', outcome: 'denied' });
  });

  it('escalates the lock and lifts it when its time is over', async () => {
    const t = setup({ shared });
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('bob@example.com'));
    t.advance(900_000);
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('bob@example.com'));
    const second = await t.policy.admit(t.attempt('bob@example.com'));
    expect(second).toMatchObject({ refusal: { headers: { 'retry-after': '1800' } } });
    t.advance(1_800_000);
    expect((await t.policy.admit(t.attempt('bob@example.com'))).kind).toBe('admit');
  });

  it('shares one counter between case and whitespace variants of an email', async () => {
    const t = setup({ shared });
    const variants = ['Carol@Example.com', ' carol@example.com', 'CAROL@EXAMPLE.COM '];
    for (const email of [...variants, 'carol@example.COM', '\tcarol@example.com']) {
      await t.wrong(t.attempt(email));
    }
    expect((await t.policy.admit(t.attempt('carol@example.com'))).kind).toBe('refuse');
  });

  it('counts neither malformed, refused, limited nor failed answers of the app', async () => {
    const t = setup({ shared });
    const answers: [number, string | undefined][] = [
      [400, 'INVALID_EMAIL'],
      [403, 'EMAIL_NOT_VERIFIED'],
      [429, undefined],
      [500, undefined],
      [502, undefined],
      [401, 'SOMETHING_ELSE'],
    ];
    for (let round = 0; round < 2; round += 1) {
      for (const [status, code] of answers) {
        const ticket = await t.admitted(t.attempt('dave@example.com'));
        await t.policy.settle(ticket, status, code, []);
      }
    }
    for (let i = 0; i < 4; i += 1) await t.wrong(t.attempt('dave@example.com'));
    expect((await t.policy.admit(t.attempt('dave@example.com'))).kind).toBe('admit');
  });

  it('lets the owner in from their device while the account is locked', async () => {
    const t = setup({ shared });
    const device = await t.right(t.attempt('erin@example.com', '198.51.100.4'));
    expect(device.startsWith(`${DEVICE_COOKIE_NAME}=v1.`)).toBe(true);
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('erin@example.com', '203.0.113.66'));
    expect((await t.policy.admit(t.attempt('erin@example.com', '198.51.100.4'))).kind).toBe(
      'refuse',
    );
    const fromDevice = await t.policy.admit(t.attempt('erin@example.com', '198.51.100.4', device));
    expect(fromDevice).toMatchObject({
      kind: 'admit',
      ticket: { subjects: [{ scope: 'device' }] },
    });
    if (fromDevice.kind === 'admit') await t.policy.settle(fromDevice.ticket, 200, undefined, []);

    // The device's own counter still stops guessing from that browser.
    const other = await t.right(t.attempt('frank@example.com'));
    expect((await t.policy.admit(t.attempt('erin@example.com', '1.2.3.4', other))).kind).toBe(
      'refuse',
    );
    for (let i = 0; i < 5; i += 1) {
      await t.wrong(t.attempt('erin@example.com', '198.51.100.4', device));
    }
    const deviceLocked = await t.policy.admit(t.attempt('erin@example.com', '1.1.1.1', device));
    expect(deviceLocked.kind).toBe('refuse');
  });

  it('keeps counting while the attacker signs into their own account', async () => {
    const t = setup({ shared });
    const ip = '203.0.113.77';
    for (let i = 0; i < 4; i += 1) {
      await t.wrong(t.attempt('grace@example.com', ip));
      await t.right(t.attempt('mallory@example.com', ip));
    }
    await t.wrong(t.attempt('grace@example.com', ip));
    expect((await t.policy.admit(t.attempt('grace@example.com', ip))).kind).toBe('refuse');
  });

  it('counts failed second-factor codes against the account', async () => {
    const t = setup({ shared });
    const ticket = await t.admitted(t.attempt('heidi@example.com'));
    const twoFactor = ['better-auth.two_factor=pending-123.sig; Max-Age=600; Path=/; HttpOnly'];
    expect(t.policy.responseCookies(ticket, 200, twoFactor)).toEqual([]);
    await t.policy.settle(ticket, 200, undefined, twoFactor);
    expect(t.events.at(-1)).toMatchObject({ type: 'login.second_factor_required' });

    const code = (): LoginAttempt => ({
      step: 'second-factor',
      cookieHeader: 'better-auth.two_factor=pending-123.sig',
      clientIp: '203.0.113.9',
      requestId: randomUUID(),
      route: 'two-factor-verify',
    });
    for (let i = 0; i < 5; i += 1) {
      const verify = await t.admitted(code());
      expect(verify.account).toBe('heidi@example.com');
      await t.policy.settle(verify, 401, 'INVALID_CODE', []);
    }
    expect((await t.policy.admit(code())).kind).toBe('refuse');
    expect((await t.policy.admit(t.attempt('heidi@example.com'))).kind).toBe('refuse');
    const unknown = { ...code(), cookieHeader: 'better-auth.two_factor=forged' };
    expect((await t.policy.admit(unknown)).kind).toBe('skip');
  });

  it('unlocks an account and records who did it', async () => {
    const t = setup({ shared });
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('ivan@example.com'));
    expect((await t.policy.list()).map((entry) => entry.scope).sort()).toEqual([
      'account',
      'address',
    ]);
    const cleared = await t.policy.unlock(' Ivan@Example.com', 'cli:root');
    expect(cleared).toHaveLength(2);
    expect(await t.policy.list()).toEqual([]);
    expect((await t.policy.admit(t.attempt('ivan@example.com'))).kind).toBe('admit');
    expect(t.events.at(-1)).toMatchObject({
      type: 'account.unlocked',
      actor: { account: 'cli:root' },
      details: { account: 'ivan@example.com', cleared: 2 },
    });
  });
});

describe('lockout policy when Redis is unavailable', () => {
  const offline = () =>
    new Redis(redisServer.url.replace(/:\d+$/, ':1'), {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });

  it('falls back to this process memory by default and still locks', async () => {
    const client = offline();
    const t = setup({ shared: true, client });
    for (let i = 0; i < 5; i += 1) await t.wrong(t.attempt('judy@example.com'));
    expect((await t.policy.admit(t.attempt('judy@example.com'))).kind).toBe('refuse');
    client.disconnect();
  });

  it('lets sign-ins through unchecked with onStoreError allow', async () => {
    const client = offline();
    const t = setup({ shared: true, client, config: { onStoreError: 'allow' } });
    for (let i = 0; i < 6; i += 1) await t.wrong(t.attempt('judy@example.com'));
    expect((await t.policy.admit(t.attempt('judy@example.com'))).kind).toBe('admit');
    client.disconnect();
  });

  it('refuses sign-ins with 503 with onStoreError deny', async () => {
    const client = offline();
    const t = setup({ shared: true, client, config: { onStoreError: 'deny' } });
    expect(await t.policy.admit(t.attempt('judy@example.com'))).toEqual({
      kind: 'refuse',
      refusal: {
        status: 503,
        code: 'GUARD_ERR_STORE_UNAVAILABLE',
        headers: { 'retry-after': '5' },
      },
    });
    client.disconnect();
  });
});
