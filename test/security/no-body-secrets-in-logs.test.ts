import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, freshClientIp, postJson, send } from '../support/policy-requests.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';

// Emails and passwords travel in the bodies the guard now reads; none of them
// may reach a log line, whether the request passes, is refused or limited.
const planted = {
  email: 'planted-victim-5d1a@example.org',
  password: 'Planted-Body-Password-93be',
  newPassword: 'Planted-New-Password-27c4',
  token: 'planted-reset-token-b7e2',
};

let app: OcommsDouble;
let redis: TestRedis;
let guard: TestGuard;

beforeAll(async () => {
  [app, redis] = await Promise.all([startOcommsDouble(), startTestRedis()]);
  guard = await startTestGuard(app.url, {
    // Security events name the account by contract; this test is about bodies.
    ...authPoliciesOff(),
    log: { level: 'trace' },
    trustedProxies: ['127.0.0.1/32'],
    store: { redis: { url: redis.url } },
  });
});
afterAll(async () => {
  await guard.close();
  await Promise.all([app.close(), redis.close()]);
});

describe('bodies never reach the logs', () => {
  it('keeps emails and passwords of inspected, refused and limited requests out', async () => {
    const ip = freshClientIp();
    const headers = { 'x-forwarded-for': ip };
    const signIn = { email: planted.email, password: planted.password };
    for (let index = 0; index < 7; index += 1) {
      await postJson(guard, '/api/auth/sign-in/email', signIn, headers);
    }
    const limited = await postJson(guard, '/api/auth/sign-in/email', signIn, headers);
    expect(limited.status).toBe(429);

    const refused = await send(guard, '/api/auth/sign-up/email', {
      body: JSON.stringify({ ...signIn, name: ['x'], password: 7 }),
      headers: { 'content-type': 'application/json', ...headers },
    });
    expect(refused.status).toBe(400);
    const encoded = await send(guard, '/api/auth/reset-password', {
      body: gzipSync(JSON.stringify({ newPassword: planted.newPassword, token: planted.token })),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...headers },
    });
    expect(encoded.status).toBeGreaterThanOrEqual(400);
    await postJson(guard, '/api/auth/request-password-reset', { email: planted.email }, headers);

    // The reset request is recorded with the account it named, by contract;
    // that field aside, the email may appear nowhere.
    const reset = guard.logs.find(
      (line) => (line.event as { type?: string } | undefined)?.type === 'password.reset_requested',
    );
    expect((reset?.event as { account?: string } | undefined)?.account).toBe(planted.email);
    const text = guard.logs
      .map((line) => {
        const event = line.event as { account?: string } | undefined;
        return JSON.stringify(event ? { ...line, event: { ...event, account: null } } : line);
      })
      .join('\n');
    expect(text).toContain('rate.limited');
    for (const value of Object.values(planted)) {
      expect(text).not.toContain(value);
      expect(text.toLowerCase()).not.toContain(value.toLowerCase());
    }
    expect(text).not.toContain('planted-victim');
  });
});
