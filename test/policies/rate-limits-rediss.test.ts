import { readFileSync, rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, freshClientIp, presetLimit, send } from '../support/policy-requests.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { createTestCa, type TestCa } from '../support/test-ca.ts';
import { waitFor } from '../support/wait-for.ts';
import {
  attempt,
  expectDeclaredBehaviour,
  outageRules,
  waitForStore,
} from './redis-store-setup.ts';

// The shared store over TLS, against a redis-server that has no plaintext
// port and asks for a password: the certificate is verified against the
// configured CA and the host name in the url, and nothing falls back to
// plaintext or to an unverified connection.

const password = 'redis-pw-s3cret';
let app: OcommsDouble;
let ca: TestCa;
let stranger: TestCa;
let redis: TestRedis;
let inspect: Redis;

beforeAll(async () => {
  ca = createTestCa('redis-ca');
  stranger = createTestCa('stranger-ca');
  [app, redis] = await Promise.all([
    startOcommsDouble(),
    startTestRedis({ tls: { ca }, password }),
  ]);
  inspect = new Redis({
    host: 'localhost',
    port: redis.port,
    password,
    tls: { ca: readFileSync(ca.certPath) },
    maxRetriesPerRequest: 1,
  });
});
afterAll(async () => {
  inspect.disconnect();
  await Promise.all([app.close(), redis.close()]);
  for (const dir of [ca.dir, stranger.dir]) rmSync(dir, { recursive: true, force: true });
});

function guardOn(redisSettings: Record<string, unknown>, rateLimits?: Record<string, unknown>[]) {
  return startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    // Generous timeouts: a busy machine must not turn the sharing test into
    // an outage test.
    store: { redis: { commandTimeoutMs: 5000, connectTimeoutMs: 5000, ...redisSettings } },
    ...(rateLimits ? { rateLimits } : {}),
  });
}

function withPassword(url: string): string {
  return url.replace('//', `//:${password}@`);
}

async function expectNoSecret(guard: TestGuard): Promise<void> {
  const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
  expect(guard.logText()).not.toContain(password);
  expect(metrics).not.toContain(password);
}

// The store logs one warning per outage, with the reason's code only.
async function refusalReason(guard: TestGuard): Promise<unknown> {
  const warned = () => guard.logs.find((line) => line.msg === 'store unavailable');
  await waitFor(
    () => warned() !== undefined,
    15000,
    100,
    () => guard.logText(),
  );
  return warned()?.reason;
}

describe('two guards sharing a Redis over TLS', () => {
  let first: TestGuard;
  let second: TestGuard;
  const prefix = `tls-shared-${process.pid}:`;

  beforeAll(async () => {
    const settings = { url: withPassword(redis.url), ca: ca.certPath, keyPrefix: prefix };
    [first, second] = await Promise.all([guardOn(settings), guardOn(settings)]);
    await Promise.all([waitForStore(first, 'ready'), waitForStore(second, 'ready')]);
  });
  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
  });

  it('share one limit, verified against the CA, with the password nowhere in logs', async () => {
    const limit = presetLimit('sign-in');
    const ip = freshClientIp();
    for (let index = 0; index < limit; index += 1) {
      const guard = index % 2 === 0 ? first : second;
      expect((await attempt(guard, ip, `tls${index}@example.com`)).status).toBe(401);
    }
    expect((await attempt(first, ip, 'tls-last@example.com')).status).toBe(429);
    expect((await attempt(second, ip, 'tls-last@example.com')).status).toBe(429);

    expect(await inspect.get(`${prefix}rl:sign-in:${ip}`)).not.toBeNull();
    for (const guard of [first, second]) {
      const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/guard_store_up 1/);
      expect(metrics).not.toMatch(/guard_rate_limit_store_errors_total\{/);
      await expectNoSecret(guard);
    }
  });
});

describe('a Redis whose certificate the guard cannot verify', () => {
  it('is refused when the CA did not sign it: each rule falls back as declared', async () => {
    const prefix = `tls-stranger-${process.pid}:`;
    const guard = await guardOn(
      { url: withPassword(redis.url), ca: stranger.certPath, keyPrefix: prefix },
      outageRules,
    );
    try {
      // Redis sends the CA along with its certificate: still not trusted.
      expect(await refusalReason(guard)).toBe('SELF_SIGNED_CERT_IN_CHAIN');
      await expectDeclaredBehaviour(guard);
      expect(await (await fetch(`${guard.adminUrl}/readyz`)).json()).toMatchObject({
        store: 'unavailable',
      });
      const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/guard_store_up 0/);
      expect(metrics).toMatch(
        /guard_rate_limit_store_errors_total\{rule="with-deny",fallback="deny"\} [1-9]/,
      );
      // Nothing reached Redis by another way.
      expect(await inspect.keys(`${prefix}*`)).toEqual([]);
      await expectNoSecret(guard);
    } finally {
      await guard.close();
    }
  });

  it('is refused, not downgraded, when the server at a rediss:// url speaks plaintext', async () => {
    const plain = await startTestRedis();
    const probe = new Redis(plain.url, { maxRetriesPerRequest: 1 });
    const url = `rediss://:${password}@localhost:${plain.port}`;
    const settings = { url, ca: ca.certPath, keyPrefix: 'downgrade:', connectTimeoutMs: 1000 };
    const guard = await guardOn(settings, outageRules);
    try {
      // The server waits for a command line and never answers the TLS hello.
      expect(await refusalReason(guard)).toBe('ETIMEDOUT');
      const denied = await send(guard, '/api/health', {
        headers: { 'x-forwarded-for': freshClientIp() },
      });
      expect(denied.status).toBe(503);
      expect(await probe.keys('*')).toEqual([]);
      await expectNoSecret(guard);
    } finally {
      probe.disconnect();
      await guard.close();
      await plain.close();
    }
  });
});

describe('host name verification', () => {
  let elsewhere: TestRedis;

  beforeAll(async () => {
    // Signed by the trusted CA, but for another name only.
    elsewhere = await startTestRedis({ tls: { ca, names: ['redis.example.test'] }, password });
  });
  afterAll(async () => {
    await elsewhere.close();
  });

  it.each([
    ['a name', 'localhost'],
    ['an address', '127.0.0.1'],
  ])('refuses a certificate that does not carry %s connected to', async (_, host) => {
    const url = `rediss://:${password}@${host}:${elsewhere.port}`;
    const guard = await guardOn({ url, ca: ca.certPath }, outageRules);
    try {
      expect(await refusalReason(guard)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      const denied = await send(guard, '/api/health', {
        headers: { 'x-forwarded-for': freshClientIp() },
      });
      expect(denied.status).toBe(503);
      await expectNoSecret(guard);
    } finally {
      await guard.close();
    }
  });
});
