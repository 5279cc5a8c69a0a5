import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import {
  authPoliciesOff,
  freshClientIp,
  postJson,
  presetLimit,
} from '../support/policy-requests.ts';
import {
  startTestCluster,
  startTestRedis,
  startTestSentinel,
  type TestRedis,
  type TestRedisGroup,
} from '../support/redis-server.ts';

let app: OcommsDouble;

beforeAll(async () => {
  app = await startOcommsDouble();
});
afterAll(async () => {
  await app.close();
});

function guardWith(redis: Record<string, unknown>): Promise<TestGuard> {
  return startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    store: { redis: { commandTimeoutMs: 500, ...redis } },
  });
}

async function waitForStore(guard: TestGuard): Promise<void> {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const ready = (await (await fetch(`${guard.adminUrl}/readyz`)).json()) as { store?: string };
    if (ready.store === 'ready') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('store never became ready');
}

async function expectSharedLimit(first: TestGuard, second: TestGuard): Promise<void> {
  const ip = freshClientIp();
  const attempt = (guard: TestGuard, index: number) =>
    postJson(
      guard,
      '/api/auth/sign-in/email',
      { email: `topology${index}@example.com`, password: 'wrong' },
      { 'x-forwarded-for': ip },
    );
  const limit = presetLimit('sign-in');
  for (let index = 0; index < limit; index += 1) {
    expect((await attempt(index % 2 ? first : second, index)).status).toBe(401);
  }
  expect((await attempt(first, limit)).status).toBe(429);
  expect((await attempt(second, limit + 1)).status).toBe(429);
}

describe('Redis behind Sentinel', () => {
  let master: TestRedis;
  let sentinel: TestRedisGroup;

  beforeAll(async () => {
    master = await startTestRedis();
    sentinel = await startTestSentinel(master.port);
  });
  afterAll(async () => {
    await sentinel.close();
    await master.close();
  });

  it('finds the master through Sentinel and shares the limits', async () => {
    const redis = {
      url: 'redis://sentinel.invalid',
      sentinel: { masterName: 'mymaster', nodes: sentinel.nodes },
    };
    const [first, second] = await Promise.all([guardWith(redis), guardWith(redis)]);
    try {
      await Promise.all([waitForStore(first), waitForStore(second)]);
      await expectSharedLimit(first, second);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});

describe('Redis Cluster', () => {
  let cluster: TestRedisGroup;

  beforeAll(async () => {
    cluster = await startTestCluster();
  });
  afterAll(async () => {
    await cluster.close();
  });

  it('keeps the limits in the cluster, shared by two guards', async () => {
    const redis = { url: 'redis://cluster.invalid', cluster: { nodes: cluster.nodes } };
    const [first, second] = await Promise.all([guardWith(redis), guardWith(redis)]);
    try {
      await Promise.all([waitForStore(first), waitForStore(second)]);
      await expectSharedLimit(first, second);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
