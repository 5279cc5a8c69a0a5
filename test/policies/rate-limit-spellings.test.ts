import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, freshClientIp, presetLimitsOff } from '../support/policy-requests.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let guard: TestGuard;
const body = JSON.stringify({ email: 'spelling@example.com', password: 'wrong' });

beforeAll(async () => {
  app = await startOcommsDouble();
  const one = { key: ['ip'], limit: 1, windowSeconds: 60 };
  guard = await startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    rateLimits: [
      ...presetLimitsOff(),
      {
        ...one,
        name: 'probe-sign-in',
        match: { path: '/api/auth/sign-in/email', methods: ['POST'] },
      },
      { ...one, name: 'probe-admin', match: { path: '/api/admin/audit-logs', methods: ['GET'] } },
    ],
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

async function raw(method: string, target: string, ip: string) {
  const withBody = method === 'POST';
  const payload = [
    `${method} ${target} HTTP/1.1`,
    'Host: localhost',
    `X-Forwarded-For: ${ip}`,
    ...(withBody ? ['Content-Type: application/json', `Content-Length: ${body.length}`] : []),
    'Connection: close',
    '',
    withBody ? body : '',
  ].join('\r\n');
  const [response] = parseResponses(await sendRaw(guard.guard.ports.https, guard.ca, payload));
  return response?.status;
}

function seenFrom(ip: string): number {
  return app.requests.filter((entry) =>
    String(entry.headers['x-forwarded-for']).startsWith(`${ip},`),
  ).length;
}

// After one request in the canonical spelling the bucket is full: every other
// spelling the app would route to the same handler must be counted in it
// (429) or refused as malformed (400), and never reach the app.
describe('no spelling of a path steps around its rule', () => {
  const signInSpellings = [
    '/API/Auth/Sign-In/Email',
    '//api//auth///sign-in/email',
    '/api/auth/./sign-in/./email',
    '/api/x/../auth/sign-in/email',
    '/api/auth/sign-in/x/../email',
    '/api/auth/sign-in/email/',
    '/api/auth/sign-in/email//',
    '/api/auth/sign-in/email/.',
    '/api/auth/sign-in/email?callbackURL=/',
    '/api/auth/sign-in/email?',
    '/api/auth/sign-in/%65mail',
    '/api/auth/sign-in/e%4Dail',
    '/%61pi/auth/sign-in/email',
    '/api/auth/sign-in%2Femail',
    '/api/auth/sign-in/email%2F',
    '/api/auth/%2e/sign-in/email',
    '/api/auth/%2E%2E/auth/sign-in/email',
    '/api\\auth\\sign-in\\email',
    '/api/auth/sign-in/email%00',
    '/api/auth/sign-in/email#x',
    '/api/auth/sign-in/email%',
    '/api/auth/sign-in/%C0%AEemail',
  ];

  for (const spelling of signInSpellings) {
    it(`counts or refuses POST ${spelling}`, async () => {
      const ip = freshClientIp();
      expect(await raw('POST', '/api/auth/sign-in/email', ip)).toBe(401);
      const status = await raw('POST', spelling, ip);
      expect([400, 429]).toContain(status);
      expect(seenFrom(ip)).toBe(1);
    });
  }

  it('counts HEAD with GET, as the app answers both with one handler', async () => {
    const ip = freshClientIp();
    expect(await raw('HEAD', '/api/admin/audit-logs', ip)).toBe(307);
    expect(await raw('GET', '/api/Admin/Audit-Logs', ip)).toBe(429);
    const other = freshClientIp();
    expect(await raw('GET', '/api/admin/audit-logs?page=2', other)).toBe(307);
    expect(await raw('HEAD', '/api/admin//audit-logs', other)).toBe(429);
  });
});
