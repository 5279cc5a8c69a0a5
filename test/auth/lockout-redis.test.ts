import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff } from '../support/policy-requests.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { signIn } from './auth-client.ts';

// Two guards in front of one app, sharing one Redis, as several instances
// behind a load balancer would.
let app: OcommsDouble;
let redis: TestRedis;
let first: TestGuard;
let second: TestGuard;

beforeAll(async () => {
  [app, redis] = await Promise.all([startOcommsDouble(), startTestRedis()]);
  const overrides = {
    rateLimits: presetLimitsOff(),
    store: { redis: { url: redis.url, keyPrefix: 'lockout-e2e:', commandTimeoutMs: 300 } },
    lockout: { deviceCookieSecret: 'a shared secret of more than thirty-two characters' },
  };
  [first, second] = await Promise.all([
    startTestGuard(app.url, overrides),
    startTestGuard(app.url, overrides),
  ]);
  // Until a guard's client is connected, it counts attempts in its own memory.
  for (const guard of [first, second]) await storeReady(guard);
});
afterAll(async () => {
  await Promise.all([first.close(), second.close()]);
  await Promise.all([app.close(), redis.close()]);
});

describe('lockout shared through Redis', () => {
  it('counts failures on every guard together and locks on all of them', async () => {
    for (let i = 0; i < 3; i += 1) await signIn(first, 'alice@example.com', `wrong-${i}`);
    for (let i = 0; i < 2; i += 1) await signIn(second, 'alice@example.com', `wrong-${i}`);
    expect((await signIn(first, 'alice@example.com', SEEDED_PASSWORD)).status).toBe(429);
    expect((await signIn(second, 'alice@example.com', SEEDED_PASSWORD)).status).toBe(429);
  });

  it('honours a device cookie from another guard that shares the secret', async () => {
    const owner = await signIn(first, 'dave@example.com', SEEDED_PASSWORD);
    const device = owner.cookies.find((c) => c.startsWith('__Host-ocomms-guard-device='));
    expect(device).toBeDefined();
    for (let i = 0; i < 5; i += 1) await signIn(second, 'dave@example.com', `attacker-${i}`);
    expect((await signIn(second, 'dave@example.com', SEEDED_PASSWORD)).status).toBe(429);
    const back = await signIn(second, 'dave@example.com', SEEDED_PASSWORD, device);
    expect(back.status).toBe(200);
  });

  it('keeps locking in memory while Redis is down, and shares again once it is back', async () => {
    await redis.stop();
    try {
      for (let i = 0; i < 5; i += 1) {
        expect((await signIn(first, 'bob@example.com', `wrong-${i}`)).status).toBe(401);
      }
      expect((await signIn(first, 'bob@example.com', SEEDED_PASSWORD)).status).toBe(429);
      const metrics = await (await fetchText(`${first.adminUrl}/metrics`)).text;
      expect(metrics).toMatch(/guard_lockout_store_errors_total [1-9]/);
    } finally {
      await redis.restart();
    }
    await expect
      .poll(async () => (await fetchText(`${first.adminUrl}/readyz`)).text, { timeout: 10_000 })
      .toContain('"store":"ready"');
    // The restarted Redis is empty: the shared state starts again from nothing.
    expect((await signIn(second, 'bob@example.com', SEEDED_PASSWORD)).status).toBe(200);
  });
});

async function storeReady(guard: TestGuard): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await fetchText(`${guard.adminUrl}/readyz`)).text.includes('"store":"ready"')) {
    if (Date.now() > deadline) throw new Error('the guard never reached Redis');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function fetchText(url: string) {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}
