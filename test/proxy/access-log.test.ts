import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let logging: TestGuard;
let quiet: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  logging = await startTestGuard(app.url);
  quiet = await startTestGuard(app.url, { log: { level: 'debug', access: false } });
});
afterAll(async () => {
  await Promise.all([logging.close(), quiet.close()]);
  await app.close();
});

// A refused cross-site POST is a security event; a plain GET is only traffic.
async function trafficAndRefusal(guard: TestGuard) {
  expect((await send(guard, '/api/echo')).status).toBe(200);
  const refused = await send(guard, '/api/echo', {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
  });
  expect(refused.status).toBe(403);
}

const requestLines = (guard: TestGuard) => guard.logs.filter((line) => line.msg === 'request');
const deniedEvents = (guard: TestGuard) =>
  guard.logs.filter(
    (line) => (line.event as { type?: string } | undefined)?.type === 'origin.denied',
  );

describe('the access log', () => {
  it('has one line per request by default', async () => {
    await trafficAndRefusal(logging);
    await expect.poll(() => requestLines(logging).length).toBe(2);
    expect(requestLines(logging).map((line) => line.status)).toEqual([200, 403]);
    expect(deniedEvents(logging)).toHaveLength(1);
  });

  it('can be turned off while security events are still logged', async () => {
    await trafficAndRefusal(quiet);
    await expect.poll(() => deniedEvents(quiet).length).toBe(1);
    expect(requestLines(quiet)).toHaveLength(0);
    expect(quiet.logs.some((line) => line.msg === 'guard started')).toBe(true);
  });
});
