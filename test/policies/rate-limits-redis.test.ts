import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, freshClientIp, presetLimit, send } from '../support/policy-requests.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { startTcpRelay } from '../support/tcp-relay.ts';
import {
  attempt,
  expectDeclaredBehaviour,
  outageRules,
  waitForStore,
} from './redis-store-setup.ts';

let app: OcommsDouble;
let redis: TestRedis;
let inspect: Redis;
const perClient = presetLimit('sign-in');

beforeAll(async () => {
  [app, redis] = await Promise.all([startOcommsDouble(), startTestRedis()]);
  inspect = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  inspect.disconnect();
  await Promise.all([app.close(), redis.close()]);
});

// Outage tests use a short command timeout to show the bound; the sharing
// tests a generous one, so that a busy machine does not turn them into
// outage tests (each instance would then count alone, as documented).
function guardOn(
  url: string,
  keyPrefix: string,
  rateLimits?: Record<string, unknown>[],
  commandTimeoutMs = 200,
) {
  return startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    store: { redis: { url, keyPrefix, commandTimeoutMs, connectTimeoutMs: 500 } },
    ...(rateLimits ? { rateLimits } : {}),
  });
}

describe('two guards sharing one Redis', () => {
  let first: TestGuard;
  let second: TestGuard;
  const prefix = `shared-${process.pid}:`;

  beforeAll(async () => {
    [first, second] = await Promise.all([
      guardOn(redis.url, prefix, undefined, 5000),
      guardOn(redis.url, prefix, undefined, 5000),
    ]);
    await Promise.all([waitForStore(first, 'ready'), waitForStore(second, 'ready')]);
  });
  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
  });

  it('share one limit, under the key prefix, with no email in any key', async () => {
    const ip = freshClientIp();
    for (let index = 0; index < perClient; index += 1) {
      const guard = index % 2 === 0 ? first : second;
      expect((await attempt(guard, ip, `shared${index}@example.com`)).status).toBe(401);
    }
    expect((await attempt(first, ip, 'shared-last@example.com')).status).toBe(429);
    expect((await attempt(second, ip, 'shared-last@example.com')).status).toBe(429);

    await inspect.connect().catch(() => undefined);
    const keys = await inspect.keys(`${prefix}*`);
    expect(keys).toContain(`${prefix}rl:sign-in:${ip}`);
    expect(keys.join(' ')).not.toMatch(/@|example\.com/);
  });

  it('let at most the limit through 50 parallel attempts spread over both', async () => {
    const ip = freshClientIp();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        attempt(index % 2 ? first : second, ip, `burst${index}@example.com`),
      ),
    );
    const passed = answers.filter((answer) => answer.status === 401).length;
    for (const guard of [first, second]) {
      const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
      expect(metrics).not.toMatch(/guard_rate_limit_store_errors_total\{/);
    }
    expect(passed).toBe(perClient);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(50 - perClient);
  });

  it('report the store as ready', async () => {
    const ready = await fetch(`${first.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', store: 'ready' });
  });
});

describe('when Redis goes away', () => {
  it('follows each declared behaviour without hanging, then counts afresh', async () => {
    const own = await startTestRedis();
    const guard = await guardOn(own.url, 'outage:', outageRules);
    try {
      await waitForStore(guard, 'ready');
      const ip = freshClientIp();
      const headers = { 'x-forwarded-for': ip };
      expect((await send(guard, '/api/health', { headers })).status).toBe(200);

      await own.stop();
      await waitForStore(guard, 'unavailable');
      await expectDeclaredBehaviour(guard);
      const ready = await fetch(`${guard.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(
        /guard_rate_limit_store_errors_total\{rule="with-deny",fallback="deny"\} [1-9]/,
      );
      expect(metrics).toMatch(
        /guard_rate_limit_store_errors_total\{rule="with-memory",fallback="memory"\} [1-9]/,
      );
      expect(metrics).toMatch(/guard_store_up 0/);
      expect(guard.logs.some((line) => line.msg === 'rate limit store unavailable')).toBe(true);

      // Nothing sent during the outage is replayed once Redis is back.
      await own.restart();
      await waitForStore(guard, 'ready');
      const probe = new Redis(own.url, { maxRetriesPerRequest: 1 });
      try {
        expect(await probe.keys('outage:*')).toEqual([]);
        expect((await send(guard, '/api/health', { headers })).status).toBe(200);
        expect((await send(guard, '/api/health', { headers })).status).toBe(200);
        expect(await probe.get(`outage:rl:with-deny:${ip}`)).toBe('2');
      } finally {
        probe.disconnect();
      }
    } finally {
      await guard.close();
      await own.close();
    }
  });

  it('never waits on a Redis that accepts connections but never answers', async () => {
    const hole = await startTcpRelay(undefined);
    const guard = await guardOn(`redis://127.0.0.1:${hole.port}`, 'hole:', outageRules);
    try {
      await expectDeclaredBehaviour(guard);
      expect(await (await fetch(`${guard.adminUrl}/readyz`)).json()).toMatchObject({
        store: 'unavailable',
      });
    } finally {
      await guard.close();
      await hole.close();
    }
  });

  it('bounds each request by the command timeout when a ready Redis stops answering', async () => {
    const relay = await startTcpRelay(redis.port);
    const guard = await guardOn(
      `redis://127.0.0.1:${relay.port}`,
      `frozen-${process.pid}:`,
      outageRules,
    );
    try {
      await waitForStore(guard, 'ready');
      relay.blackhole();
      await expectDeclaredBehaviour(guard);
    } finally {
      await guard.close();
      await relay.close();
    }
  });
});
