import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff, send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;
let listed: TestGuard;
let strict: TestGuard;
let lenient: TestGuard;

const FOREIGN = 'https://evil.example';
const PARTNER = 'https://chat.partner.example';

beforeAll(async () => {
  app = await startOcommsDouble();
  const common = { rateLimits: presetLimitsOff() };
  guard = await startTestGuard(app.url, common);
  listed = await startTestGuard(app.url, { ...common, crossOrigin: { allowedOrigins: [PARTNER] } });
  strict = await startTestGuard(app.url, { ...common, crossOrigin: { withoutOrigin: 'refuse' } });
  lenient = await startTestGuard(app.url, { ...common, crossOrigin: { withoutOrigin: 'allow' } });
});
afterAll(async () => {
  await Promise.all([guard.close(), listed.close(), strict.close(), lenient.close()]);
  await app.close();
});

function post(target: TestGuard, path: string, headers: Record<string, string>) {
  const json = { 'content-type': 'application/json', ...headers };
  return send(target, path, { method: 'POST', body: '{}', headers: json });
}

function forwardedSince(before: number, path: string): number {
  return app.requests.slice(before).filter((entry) => entry.url === path).length;
}

describe('state-changing requests from other sites', () => {
  it('refuses a foreign-origin POST before it reaches the app, and records it', async () => {
    const before = app.requests.length;
    const answer = await post(guard, '/api/echo', { origin: FOREIGN });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'GUARD_ERR_ORIGIN_REFUSED' });
    expect(forwardedSince(before, '/api/echo')).toBe(0);
    const event = guard.logs
      .map((line) => line.event as Record<string, unknown> | undefined)
      .find((entry) => entry?.type === 'origin.denied');
    expect(event).toMatchObject({ outcome: 'denied', status: 403, method: 'POST' });
    expect(event?.details).toEqual({ reason: 'foreign-origin', origin: FOREIGN });
  });

  it('passes a same-origin POST', async () => {
    const before = app.requests.length;
    const answer = await post(guard, '/api/echo', { origin: guard.url });
    expect(answer.status).toBe(200);
    expect(forwardedSince(before, '/api/echo')).toBe(1);
  });

  it('refuses foreign Server Actions, sign-ins and "null" origins alike', async () => {
    const action = { origin: FOREIGN, 'next-action': 'abc123' };
    expect((await post(guard, '/acme/settings', action)).status).toBe(403);
    expect((await post(guard, '/api/auth/sign-in/email', { origin: FOREIGN })).status).toBe(403);
    expect((await post(guard, '/api/echo', { origin: 'null' })).status).toBe(403);
    expect(
      (await send(guard, '/api/echo', { method: 'DELETE', headers: { origin: FOREIGN } })).status,
    ).toBe(403);
  });

  it('reads the Referer when there is no Origin', async () => {
    const referer = 'https://user:hunter2@evil.example/page?token=secret-token';
    const foreign = await sendWithout(guard, { referer });
    expect(foreign.status).toBe(403);
    const event = guard.logs
      .map((line) => line.event as Record<string, unknown> | undefined)
      .findLast((entry) => entry?.type === 'origin.denied');
    expect(event?.details).toEqual({ reason: 'foreign-origin', origin: FOREIGN });
    expect(guard.logText()).not.toMatch(/hunter2|secret-token/);
    const own = await sendWithout(guard, { referer: `${guard.url}/acme/general` });
    expect(own.status).toBe(200);
  });

  it('refuses a cookie-carrying state change with neither Origin nor Referer, by default', async () => {
    const cookie = { cookie: 'better-auth.session_token=abc.def' };
    expect((await sendWithout(guard, cookie)).status).toBe(403);
    expect((await sendWithout(guard, {})).status).toBe(200);
    expect((await sendWithout(strict, {})).status).toBe(403);
    expect((await sendWithout(lenient, cookie)).status).toBe(200);
    const get = await request(`${guard.url}/api/health`, {
      dispatcher: guard.agent,
      headers: cookie,
    });
    await get.body.text();
    expect(get.statusCode).toBe(200);
  });

  it('takes the own port from Host: another port of the same name is another site', async () => {
    const port = Number(new URL(guard.url).port);
    const otherPort = `https://localhost:${port === 1 ? 2 : 1}`;
    expect((await post(guard, '/api/echo', { origin: otherPort })).status).toBe(403);
    expect((await post(guard, '/api/echo', { origin: 'http://localhost' })).status).toBe(403);
    // Behind a port mapping the browser reached port 443 and says so in Host.
    const mapped = { host: 'localhost', origin: 'https://localhost' };
    expect((await post(guard, '/api/echo', mapped)).status).toBe(200);
    const mismatched = { host: 'localhost', origin: guard.url };
    expect((await post(guard, '/api/echo', mismatched)).status).toBe(403);
  });

  it('lets GET through from anywhere', async () => {
    expect((await send(guard, '/api/health', { headers: { origin: FOREIGN } })).status).toBe(200);
  });

  it('follows a configured list instead of the own origin', async () => {
    expect((await post(listed, '/api/echo', { origin: PARTNER })).status).toBe(200);
    expect((await post(listed, '/api/echo', { origin: listed.url })).status).toBe(403);
  });
});

describe('CORS preflights', () => {
  const ask = (target: TestGuard, origin: string) =>
    send(target, '/api/echo', {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });

  it('answers an allowed origin itself', async () => {
    const before = app.requests.length;
    const answer = await ask(listed, PARTNER);
    expect(answer.status).toBe(204);
    expect(answer.text).toBe('');
    expect(answer.headers['access-control-allow-origin']).toBe(PARTNER);
    expect(answer.headers['access-control-allow-credentials']).toBe('true');
    expect(answer.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(answer.headers['access-control-allow-headers']).toContain('content-type');
    expect(answer.headers.vary).toContain('Origin');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(forwardedSince(before, '/api/echo')).toBe(0);
  });

  it('refuses a foreign one without granting anything', async () => {
    const answer = await ask(listed, FOREIGN);
    expect(answer.status).toBe(403);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('leaves a plain OPTIONS request to the app', async () => {
    const before = app.requests.length;
    const answer = await send(guard, '/api/echo', { method: 'OPTIONS' });
    expect(answer.status).toBe(200);
    expect(forwardedSince(before, '/api/echo')).toBe(1);
  });
});

describe("the app's own CORS headers", () => {
  it('removes a wildcard', async () => {
    const answer = await send(guard, '/api/headers-case');
    expect(answer.status).toBe(200);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('removes a reflected foreign origin with its credentials grant', async () => {
    const answer = await send(guard, '/api/cors-reflect', { headers: { origin: FOREIGN } });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ reflected: FOREIGN });
    for (const name of [
      'access-control-allow-origin',
      'access-control-allow-credentials',
      'access-control-allow-methods',
      'access-control-expose-headers',
    ]) {
      expect(answer.headers[name]).toBeUndefined();
    }
  });

  it('keeps a grant to an allowed origin', async () => {
    const answer = await send(listed, '/api/cors-reflect', { headers: { origin: PARTNER } });
    expect(answer.headers['access-control-allow-origin']).toBe(PARTNER);
    expect(answer.headers['access-control-allow-credentials']).toBe('true');
  });

  it('leaves them as they are when the policy is off', async () => {
    const off = await startTestGuard(app.url, {
      rateLimits: presetLimitsOff(),
      crossOrigin: { enabled: false },
    });
    try {
      const answer = await send(off, '/api/cors-reflect', { headers: { origin: FOREIGN } });
      expect(answer.headers['access-control-allow-origin']).toBe(FOREIGN);
      expect((await post(off, '/api/echo', { origin: FOREIGN })).status).toBe(200);
    } finally {
      await off.close();
    }
  });
});

// send() adds the guard's own Origin; these requests go without one.
async function sendWithout(target: TestGuard, headers: Record<string, string>) {
  const response = await request(`${target.url}/api/echo`, {
    dispatcher: target.agent,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });
  return { status: response.statusCode, text: await response.body.text() };
}
