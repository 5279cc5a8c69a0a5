import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, presetLimit } from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, {
    ...authPoliciesOff(),
    listen: { https: '[::1]:0', http: false, admin: '127.0.0.1:0' },
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

// A client reaching the guard over IPv6 itself, no proxy in between.
describe('a client connected over IPv6', () => {
  it('is counted by its /64 and limited like any other', async () => {
    const url = `https://[::1]:${guard.guard.ports.https}/api/auth/sign-in/email`;
    const attempt = async (index: number) => {
      const response = await request(url, {
        dispatcher: guard.agent,
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: guard.url },
        body: JSON.stringify({ email: `v6-${index}@example.com`, password: 'wrong' }),
      });
      await response.body.text();
      return response.statusCode;
    };
    const limit = presetLimit('sign-in');
    for (let index = 0; index < limit; index += 1) expect(await attempt(index)).toBe(401);
    expect(await attempt(limit)).toBe(429);

    const event = guard.logs.find(
      (line) => (line.event as { type?: string } | undefined)?.type === 'rate.limited',
    )?.event as { clientIp?: string } | undefined;
    expect(event?.clientIp).toBe('::1');
    const forwarded = app.requests.filter((entry) => entry.url === '/api/auth/sign-in/email');
    expect(forwarded).toHaveLength(limit);
    expect(forwarded[0]?.headers['x-forwarded-for']).toBe('::1');
  });
});
