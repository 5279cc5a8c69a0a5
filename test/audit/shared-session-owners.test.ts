import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';

let app: OcommsDouble;
let db: AuditDb;
let redis: TestRedis;
let first: TestGuard;
let second: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  redis = await startTestRedis();
  const shared = { audit: db.audit(), store: { redis: { url: redis.url } } };
  first = await startTestGuard(app.url, shared);
  second = await startTestGuard(app.url, shared);
});
afterAll(async () => {
  await first.close();
  await second.close();
  await redis.close();
  await app.close();
  db.close();
});

async function post(guard: TestGuard, path: string, body: unknown, cookie?: string) {
  const response = await request(`${guard.url}${path}`, {
    dispatcher: guard.agent,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      origin: guard.url,
      ...(cookie ? { cookie } : {}),
    },
    body: JSON.stringify(body),
  });
  await response.body.text();
  return response;
}

describe('session owners shared through Redis', () => {
  it('names the acting user on an instance that did not see the sign-in', async () => {
    const signIn = await post(first, '/api/auth/sign-in/email', {
      email: 'dave@example.com',
      password: SEEDED_PASSWORD,
    });
    const setCookies = ([] as string[]).concat(signIn.headers['set-cookie'] ?? []);
    const cookie = setCookies.map((entry) => entry.split(';')[0]).join('; ');
    const token = app.sessions.keys().next().value ?? '';
    expect(token.length).toBeGreaterThan(8);

    const answer = await post(second, '/api/admin/export', {}, cookie);
    expect(answer.statusCode).toBe(200);
    const where = "type = 'admin.action' and path = '/api/admin/export'";
    await waitFor(() => db.count(where) === 1, 'the admin action stored');
    expect(db.column('actor_account', where)).toEqual(['dave@example.com']);

    // Redis holds a hash of the token, never the token, and with the cookie's lifetime.
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('*session-owner:*');
      expect(keys).toHaveLength(1);
      expect(keys[0]).not.toContain(token);
      const ttl = await client.ttl(keys[0] ?? '');
      expect(ttl).toBeGreaterThan(7 * 24 * 3600 - 60);
      expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600);
      expect(await client.get(keys[0] ?? '')).not.toContain(token);
    } finally {
      client.disconnect();
    }
  });
});
