import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyRequest, RequestPolicy } from '../../policies/decision.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { postJson, presetLimitsOff, send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;
const seen: { request: PolicyRequest; status?: number; body?: string }[] = [];

// A policy joining the step before forwarding, as a lockout or an allow-list
// would: it sees the inspected body, may refuse, and reads the app's answer.
const probe: RequestPolicy = {
  name: 'probe',
  appliesTo: (_method, path) => path.startsWith('/api/auth/sign-'),
  decide(request) {
    if (request.body?.fields.email === 'refuse@example.com') {
      return { allow: false, reply: { status: 403, code: 'GUARD_ERR_BAD_REQUEST' } };
    }
    const entry: (typeof seen)[number] = { request };
    seen.push(entry);
    return {
      allow: true,
      after: {
        bodyBytes: 64,
        headers(_status, headers) {
          headers['x-probe'] = 'seen';
        },
        done(status, body) {
          entry.status = status;
          entry.body = body.toString('utf8');
        },
      },
    };
  },
};

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, { rateLimits: presetLimitsOff() });
  const { runtime } = guard.guard;
  runtime.policies = {
    ...runtime.policies,
    beforeForward: [...runtime.policies.beforeForward, probe],
  };
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

describe('the step before forwarding', () => {
  it('gives policies the inspected body and the app answer', async () => {
    const answer = await postJson(guard, '/api/auth/sign-in/email', {
      email: 'Someone@Example.com',
      password: 'wrong',
    });
    expect(answer.status).toBe(401);
    expect(answer.headers['x-probe']).toBe('seen');
    const entry = seen.at(-1);
    expect(entry?.request.body?.fields.email).toBe('Someone@Example.com');
    expect(entry?.request.route.name).toBe('sign-in');
    await expect.poll(() => entry?.status).toBe(401);
    expect(entry?.body).toContain('INVALID_EMAIL_OR_PASSWORD');
    expect(entry?.body?.length).toBeLessThanOrEqual(64);
  });

  it('answers a refusal itself and forwards nothing', async () => {
    const before = app.requests.length;
    const answer = await postJson(guard, '/api/auth/sign-in/email', {
      email: 'refuse@example.com',
      password: 'x',
    });
    expect(answer.status).toBe(403);
    expect(app.requests.length).toBe(before);
  });

  it('leaves other routes on the fast path, untouched', async () => {
    const answer = await send(guard, '/api/health');
    expect(answer.status).toBe(200);
    expect(answer.headers['x-probe']).toBeUndefined();
  });
});
