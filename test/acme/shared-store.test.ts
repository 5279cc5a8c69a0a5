import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChallengeResponder } from '../../acme/challenges.ts';
import { lockTtlMs, SharedAcmeStore } from '../../acme/shared-store.ts';
import { createRedisClient } from '../../policies/redis-client.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { waitFor } from '../support/wait-for.ts';

let redis: TestRedis;
let inspect: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  inspect.on('error', () => undefined);
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  inspect.disconnect();
  await redis.close();
});

// The client the guard builds from store.redis, with its prefix and timeout.
async function sharedStore(directory: string): Promise<SharedAcmeStore> {
  const client = createRedisClient({
    url: redis.url,
    keyPrefix: 'guard:',
    commandTimeoutMs: 250,
    connectTimeoutMs: 2000,
  }) as Redis;
  client.on('error', () => undefined);
  clients.push(client);
  const store = new SharedAcmeStore(client, 'guard:', directory);
  expect(await store.whenReady(5000)).toBe(true);
  return store;
}

describe('the shared ACME store in Redis', () => {
  it('gives the lock to one instance, with an expiry, under the key prefix', async () => {
    const first = await sharedStore('lock-test');
    const second = await sharedStore('lock-test');
    const claimed = await first.claim('guard.test');
    expect(claimed.kind).toBe('acquired');
    const refused = await second.claim('guard.test');
    expect(refused.kind).toBe('held');
    if (refused.kind === 'held') expect(refused.expiresInMs).toBeLessThanOrEqual(lockTtlMs);
    const ttl = await inspect.pttl('guard:acme:lock-test:lock:guard.test');
    expect(ttl).toBeGreaterThan(lockTtlMs - 10_000);

    if (claimed.kind === 'acquired') await claimed.lease.release();
    expect(await inspect.exists('guard:acme:lock-test:lock:guard.test')).toBe(0);
    expect((await second.claim('guard.test')).kind).toBe('acquired');
  });

  it('never frees a lock that expired and was taken by another instance', async () => {
    const first = await sharedStore('expired-test');
    const claimed = await first.claim('guard.test');
    if (claimed.kind !== 'acquired') throw new Error('not acquired');
    // As if the lock had run out and another instance had taken it since.
    await inspect.set('guard:acme:expired-test:lock:guard.test', 'other-instance', 'PX', 30_000);
    await claimed.lease.release();
    expect(await inspect.get('guard:acme:expired-test:lock:guard.test')).toBe('other-instance');
  });

  it('tells the other instances when a certificate is shared, not the sender', async () => {
    const first = await sharedStore('notify-test');
    const second = await sharedStore('notify-test');
    const heardByFirst: string[] = [];
    const heardBySecond: string[] = [];
    first.subscribe((id) => heardByFirst.push(id));
    second.subscribe((id) => heardBySecond.push(id));
    await waitFor(
      async () => (await inspect.pubsub('NUMSUB', 'guard:acme:notify-test:installed'))[1] === 2,
      5000,
    );

    await first.writeBundle('guard.test', 'bundle text');
    await waitFor(() => heardBySecond.length === 1, 5000);
    expect(heardBySecond).toEqual(['guard.test']);
    expect(heardByFirst).toEqual([]);
    expect(await second.readBundle('guard.test')).toBe('bundle text');
    first.close();
    second.close();
  });

  it('answers HTTP-01 published by another instance, only for its host', async () => {
    const ordering = new ChallengeResponder(await sharedStore('tokens'));
    const other = new ChallengeResponder(await sharedStore('tokens'));
    const token = 'Tk1s0aH9c2TtQm3bRZyPq7vN4wLd8eF0';
    expect(await ordering.addHttp(token, 'Guard.Test', `${token}.print`)).toBe(true);
    expect(other.httpAnswer(token, 'guard.test')).toBeUndefined();
    expect(await other.httpAnswerAnywhere(token, 'guard.test')).toBe(`${token}.print`);
    expect(await other.httpAnswerAnywhere(token, 'other.test')).toBeUndefined();
    ordering.removeHttp(token);
    await waitFor(
      async () => (await other.httpAnswerAnywhere(token, 'guard.test')) === undefined,
      5000,
    );
  });

  it('keeps answering locally when Redis is away', async () => {
    const own = await startTestRedis();
    const client = createRedisClient({
      url: own.url,
      keyPrefix: 'guard:',
      commandTimeoutMs: 250,
      connectTimeoutMs: 2000,
    }) as Redis;
    client.on('error', () => undefined);
    const store = new SharedAcmeStore(client, 'guard:', 'down');
    await store.whenReady(5000);
    await own.stop();
    await waitFor(() => client.status !== 'ready', 5000);

    const responder = new ChallengeResponder(store);
    const token = 'Dn1s0aH9c2TtQm3bRZyPq7vN4wLd8eF0';
    expect(await responder.addHttp(token, 'guard.test', `${token}.print`)).toBe(false);
    expect(await responder.httpAnswerAnywhere(token, 'guard.test')).toBe(`${token}.print`);
    expect(
      await responder.httpAnswerAnywhere('Xx1s0aH9c2TtQm3bRZyPq7vN4wLd8eF0', 'guard.test'),
    ).toBeUndefined();
    await expect(store.claim('guard.test')).rejects.toThrow();
    client.disconnect();
    await own.close();
  });
});
