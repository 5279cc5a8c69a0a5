import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url);
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

async function get(path: string): Promise<number> {
  const response = await request(`${guard.url}${path}`, { dispatcher: guard.agent });
  await response.body.dump();
  return response.statusCode;
}

async function scrape(): Promise<string> {
  return (await request(`${guard.adminUrl}/metrics`)).body.text();
}

function sample(text: string, pattern: RegExp): number {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : 0;
}

const ok = /guard_http_requests_total\{listener="https",route="[^"]+",status="200"\} (\d+)/;
const missing = /guard_http_requests_total\{listener="https",route="[^"]+",status="404"\} (\d+)/;
const timed = /guard_http_request_duration_seconds_count\{listener="https"\} (\d+)/;
const fastest = /guard_http_request_duration_seconds_bucket\{le="30",listener="https"\} (\d+)/;

describe('request metrics', () => {
  it('count every answer by status and time it, whenever they are read', async () => {
    const before = await scrape();
    expect(await get('/api/echo')).toBe(200);
    expect(await get('/favicon.ico')).toBe(404);
    // Each request's close is recorded just after its answer is read.
    await expect.poll(async () => sample(await scrape(), timed) - sample(before, timed)).toBe(2);
    const after = await scrape();
    expect(sample(after, ok) - sample(before, ok)).toBe(1);
    expect(sample(after, missing) - sample(before, missing)).toBe(1);
    expect(sample(after, fastest) - sample(before, fastest)).toBe(2);
  });

  it('lose no request across many batches', async () => {
    const before = await scrape();
    const total = 1200;
    for (let sent = 0; sent < total; sent += 50) {
      const statuses = await Promise.all(Array.from({ length: 50 }, () => get('/api/echo')));
      expect(statuses.every((status) => status === 200)).toBe(true);
    }
    await expect
      .poll(async () => sample(await scrape(), timed) - sample(before, timed))
      .toBe(total);
    expect(sample(await scrape(), ok) - sample(before, ok)).toBe(total);
  });
});
