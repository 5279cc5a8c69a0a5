import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { connectThroughGuard, roundTripEcho, waitConnected } from '../e2e/socket-helpers.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { freshClientIp, postJson } from '../support/policy-requests.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';

// A sysadmin raises a rate limit during an incident: the clients already
// counted keep their count (nobody gets a fresh allowance from the reload),
// the raised limit applies to the next request, and a chat WebSocket opened
// before the reload keeps talking. In memory and in Redis alike.

const signIn = '/api/auth/sign-in/email';
let redis: TestRedis;
let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;
const sockets: Socket[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.close();
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await guard?.close();
  await double?.close();
  guard = undefined;
  double = undefined;
});

function settings(limit: number, store: 'memory' | 'redis') {
  return {
    trustedProxies: ['127.0.0.1/32'],
    ...(store === 'redis' ? { store: { redis: { url: redis.url, keyPrefix: 'reload:' } } } : {}),
    rateLimits: [
      {
        name: 'sign-in',
        match: { path: signIn, methods: ['POST'] },
        key: ['ip'],
        limit,
        windowSeconds: 600,
      },
    ],
  };
}

describe('a rate limit raised by reload', () => {
  it.each([['memory'], ['redis']] as const)(
    'keeps the counts in %s and applies the new limit to the next request',
    async (store) => {
      double = await startOcommsDouble();
      const stack = await startTestGuard(double.url, settings(3, store));
      guard = stack;
      const socket = connectThroughGuard(stack, { transports: ['websocket'] });
      sockets.push(socket);
      await waitConnected(socket);
      const ip = freshClientIp();
      let attempt = 0;
      const tryOnce = async () => {
        attempt += 1;
        const body = { email: `user${attempt}@example.com`, password: 'wrong-password' };
        return (await postJson(stack, signIn, body, { 'x-forwarded-for': ip })).status;
      };
      const before = [await tryOnce(), await tryOnce(), await tryOnce(), await tryOnce()];
      expect(before).toEqual([401, 401, 401, 429]);

      stack.rewriteConfig(settings(5, store));
      const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

      expect(outcome).toMatchObject({ status: 'applied', changed: ['rateLimits'] });
      // Four were counted before; the fifth fits under the new limit, no more.
      expect([await tryOnce(), await tryOnce()]).toEqual([401, 429]);
      expect(await roundTripEcho(socket, 'still here')).toBe('still here');
      const other = freshClientIp();
      const fresh = await postJson(
        stack,
        signIn,
        { email: 'someone@example.com', password: 'wrong-password' },
        { 'x-forwarded-for': other },
      );
      expect(fresh.status).toBe(401);
    },
  );

  it('keeps the store as it runs and says a restart is needed for a new one', async () => {
    double = await startOcommsDouble();
    const stack = await startTestGuard(double.url, settings(3, 'memory'));
    guard = stack;
    const running = stack.guard.runtime.store;

    stack.rewriteConfig(settings(3, 'redis'));
    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({ status: 'applied', changed: [], restartRequired: ['store'] });
    expect(stack.guard.runtime.store).toBe(running);
    expect(stack.guard.runtime.policies.config.store.redis).toBeUndefined();
  });
});
