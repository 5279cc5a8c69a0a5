import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ocommsRateLimits } from '../../config/presets/ocomms-rate-limits.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { authPoliciesOff, freshClientIp, send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, {
    trustedProxies: ['127.0.0.1/32'],
    ...authPoliciesOff(),
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

// A request each preset rule counts, below a prefix where the rule has one.
const targets: Record<string, string> = {
  '/api/auth/two-factor/': '/api/auth/two-factor/verify-totp',
  '/api/auth/organization/': '/api/auth/organization/create',
  '/api/admin/': '/api/admin/audit-logs',
  '/api/upload/': '/api/upload/attachment',
  '/socket.io/': '/socket.io/?EIO=4&transport=polling',
};

type Rule = (typeof ocommsRateLimits)[number];

function requestFor(rule: Rule, index: number, shared: string) {
  const path = targets[rule.match.path] ?? rule.match.path;
  const method = rule.match.methods?.[0] ?? 'GET';
  const byAccount = rule.key.includes('account');
  const bySession = rule.key.includes('session');
  // Rules keyed on the client see one address; the others a new one each time.
  const ip = byAccount || bySession ? freshClientIp() : shared;
  const headers: Record<string, string> = { 'x-forwarded-for': ip };
  if (bySession) headers.cookie = `better-auth.session_token=${rule.name}-token.sig${index}`;
  if (method !== 'POST') return { path, method, headers };
  const email = byAccount ? `${rule.name}@example.com` : `${rule.name}-${index}@example.com`;
  const body = JSON.stringify({ email, password: 'p', name: 'n', code: '000000', token: 't' });
  return { path, method, headers: { ...headers, 'content-type': 'application/json' }, body };
}

describe('every rule of the ocomms preset', () => {
  for (const rule of ocommsRateLimits) {
    it(`limits ${rule.name} at ${rule.limit} per ${rule.windowSeconds} s`, async () => {
      const shared = freshClientIp();
      for (let index = 0; index < rule.limit; index += 1) {
        const { path, ...options } = requestFor(rule, index, shared);
        const answer = await send(guard, path, options);
        expect(answer.status, `${rule.name} #${index}`).not.toBe(429);
      }
      const { path, ...options } = requestFor(rule, rule.limit, shared);
      const limited = await send(guard, path, options);
      expect(limited.status).toBe(429);
      expect(limited.headers['ratelimit-policy']).toBe(
        `"${rule.name}";q=${rule.limit};w=${rule.windowSeconds}`,
      );
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(Math.max(rule.blockSeconds, rule.windowSeconds));
    });
  }
});

describe('a rule keyed on an account the guard cannot read', () => {
  it('is named in a warning at start', async () => {
    const warned = await startTestGuard(app.url, {
      rateLimits: [
        {
          name: 'unread-account',
          match: { path: '/api/upload/attachment', methods: ['POST'] },
          key: ['account'],
          limit: 1,
          windowSeconds: 60,
        },
      ],
    });
    try {
      const line = warned.logs.find(
        (entry) => entry.msg === 'rate limit keyed on account matches no inspected route',
      );
      expect(line?.rule).toBe('unread-account');
      expect(guard.logs.some((entry) => entry.rule === 'sign-in-account')).toBe(false);
    } finally {
      await warned.close();
    }
  });
});
