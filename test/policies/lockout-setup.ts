import { randomBytes, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { SecurityEventInput } from '../../audit/security-events.ts';
import { createLogger } from '../../common/log.ts';
import { type LockoutConfig, lockoutSchema } from '../../config/lockout-schema.ts';
import { createAuthMetrics } from '../../policies/auth-metrics.ts';
import {
  buildLockoutPolicy,
  type LoginAttempt,
  type LoginTicket,
  lockoutSettings,
} from '../../policies/lockout-policy.ts';
import { createRedisLockoutStore } from '../../policies/lockout-redis.ts';

// A lockout policy on a driven clock, with its events collected, over memory
// or a real Redis.

// Each Redis-backed policy gets a connection with a key prefix of its own, as
// the shared store's client carries store.redis.keyPrefix: no test sees
// another's keys.
const connections: Redis[] = [];
function prefixed(redis: Redis): Redis {
  const client = redis.duplicate({ keyPrefix: `t-${randomUUID()}:`, lazyConnect: false });
  connections.push(client);
  return client;
}

export function closeLockoutConnections(): void {
  for (const client of connections.splice(0)) client.disconnect();
}

export type Setup = {
  shared: boolean;
  config?: Partial<LockoutConfig>;
  client?: Redis | undefined;
  deviceKey?: Buffer;
};

export function setupLockout(redis: Redis, { shared, config = {}, client, deviceKey }: Setup) {
  const parsed = lockoutSchema.parse(config);
  const events: SecurityEventInput[] = [];
  let clock = Date.UTC(2026, 0, 1);
  const pendingMs = 120_000;
  const store = shared
    ? createRedisLockoutStore(client ?? prefixed(redis), lockoutSettings(parsed, pendingMs))
    : undefined;
  const policy = buildLockoutPolicy(parsed, {
    store,
    deviceKey: deviceKey ?? randomBytes(32),
    events: { emit: (event) => events.push(event) },
    metrics: createAuthMetrics(new Registry()),
    logger: createLogger('silent'),
    pendingMs,
    now: () => clock,
    storeTimeoutMs: 500,
  });
  const attempt = (email: string, ip = '203.0.113.9', cookie?: string): LoginAttempt => ({
    step: 'password',
    email,
    cookieHeader: cookie,
    clientIp: ip,
    requestId: randomUUID(),
    route: 'sign-in',
  });
  const admitted = async (value: LoginAttempt): Promise<LoginTicket> => {
    const result = await policy.admit(value);
    if (result.kind !== 'admit') throw new Error(`expected admission, got ${result.kind}`);
    return result.ticket;
  };
  const wrong = async (value: LoginAttempt) => {
    const ticket = await admitted(value);
    await policy.settle(ticket, 401, 'INVALID_EMAIL_OR_PASSWORD', []);
  };
  const right = async (value: LoginAttempt) => {
    const ticket = await admitted(value);
    const cookies = policy.responseCookies(ticket, 200, []);
    await policy.settle(ticket, 200, undefined, []);
    return cookies[0]?.split(';')[0] ?? '';
  };
  return {
    policy,
    events,
    attempt,
    admitted,
    wrong,
    right,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}
