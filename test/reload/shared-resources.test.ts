import { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
} from 'rate-limiter-flexible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { type ResourceScope, SharedResources } from '../../proxy/shared-resources.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';

// Long-lived state across reloads: what a generation acquires with unchanged
// settings is the running instance; counters kept that way survive a reload
// that raises their limit, in memory and in Redis alike.

const silent = createLogger('silent');

function tracked(label: string, closed: string[]) {
  return { label, close: () => closed.push(label) };
}

describe('shared resources', () => {
  it('carries over unchanged resources, replaces changed ones and disposes dropped ones', () => {
    const closed: string[] = [];
    const resources = new SharedResources(silent);
    const first = resources.begin();
    const pool = first.acquire(
      'pool',
      { size: 4 },
      () => tracked('pool 4', closed),
      (v) => v.close(),
    );
    const sink = first.acquire(
      'sink',
      { file: 'a' },
      () => tracked('sink a', closed),
      (v) => v.close(),
    );
    first.acquire(
      'old',
      {},
      () => tracked('old', closed),
      (v) => v.close(),
    );
    first.commit();

    const second = resources.begin();
    const samePool = second.acquire('pool', { size: 4 }, () => tracked('again', closed));
    const newSink = second.acquire('sink', { file: 'b' }, () => tracked('sink b', closed));
    expect(samePool).toBe(pool);
    expect(newSink).not.toBe(sink);
    expect(closed).toEqual([]);
    second.commit();

    expect(closed.sort()).toEqual(['old', 'sink a']);
    expect(second.created).toEqual(['sink']);
    expect(resources.names().sort()).toEqual(['pool', 'sink']);
  });

  it('disposes only what a refused generation created, and keeps the running ones', async () => {
    const closed: string[] = [];
    const resources = new SharedResources(silent);
    const first = resources.begin();
    first.acquire(
      'store',
      { url: 'a' },
      () => tracked('store a', closed),
      (v) => v.close(),
    );
    first.commit();

    const refused = resources.begin();
    refused.acquire('store', { url: 'a' }, () => tracked('unused', closed));
    refused.acquire(
      'sink',
      {},
      () => tracked('sink', closed),
      (v) => v.close(),
    );
    let applied = false;
    refused.onCommit(() => {
      applied = true;
    });
    await refused.abort();

    expect(closed).toEqual(['sink']);
    expect(applied).toBe(false);
    expect(resources.names()).toEqual(['store']);
    const twice = resources.begin();
    twice.acquire('x', 1, () => 1);
    expect(() => twice.acquire('x', 2, () => 2)).toThrow(/different settings/);
  });
});

// A policy written the way every stateful policy must be: its state comes
// from the scope, keyed by what identifies the state (the store and the
// rule's name), not by the limit, which is applied on commit.
function buildSignInLimit(scope: ResourceScope, limit: number, redisUrl?: string) {
  if (redisUrl) {
    const client = scope.acquire(
      'redis',
      { url: redisUrl },
      () => new Redis(redisUrl, { maxRetriesPerRequest: 1 }),
      (redis) => redis.quit(),
    );
    return new RateLimiterRedis({
      storeClient: client,
      keyPrefix: 'sign-in',
      points: limit,
      duration: 60,
    });
  }
  const limiter = scope.acquire(
    'rate-limit:sign-in',
    { store: 'memory' },
    () => new RateLimiterMemory({ keyPrefix: 'sign-in', points: limit, duration: 60 }),
  );
  scope.onCommit(() => {
    limiter.points = limit;
  });
  return limiter;
}

async function allowed(limiter: RateLimiterAbstract, key: string): Promise<boolean> {
  return limiter.consume(key).then(
    () => true,
    (result: unknown) => {
      if (result instanceof Error) throw result;
      return false;
    },
  );
}

describe('counters across a reload', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis.close();
  });

  it.each([['memory'], ['redis']] as const)(
    'keep their count in %s while the limit is raised',
    async (store) => {
      const resources = new SharedResources(silent);
      const url = store === 'redis' ? redis.url : undefined;
      const first = resources.begin();
      const before = buildSignInLimit(first, 3, url);
      first.commit();
      const key = `203.0.113.7-${store}`;
      const answers = [];
      for (let attempt = 0; attempt < 4; attempt += 1) answers.push(await allowed(before, key));
      expect(answers).toEqual([true, true, true, false]);

      const second = resources.begin();
      const after = buildSignInLimit(second, 5, url);
      second.commit();

      // Four consumed before the reload: one more fits under five, then none.
      expect(await allowed(after, key)).toBe(true);
      expect(await allowed(after, key)).toBe(false);
      await resources.close();
    },
  );
});
