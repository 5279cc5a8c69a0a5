import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OcommsDouble,
  SEEDED_PASSWORD,
  SEEDED_TOTP_CODE,
  startOcommsDouble,
} from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff } from '../support/policy-requests.ts';
import { postAuth, signIn } from './auth-client.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, { log: { level: 'trace' }, rateLimits: presetLimitsOff() });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

function cookieValue(cookie: string): string {
  return cookie.slice(cookie.indexOf('=') + 1);
}

describe('the sign-in policies keep secrets out of the logs', () => {
  it('logs no password, token or cookie they handle, in any event or line', async () => {
    const planted = {
      weak: 'plantedplanted',
      strong: 'planted orbit kettle 4471',
      wrong: 'planted-wrong-8d21',
      reset: 'planted-reset-token-77c2',
    };
    const refused = await postAuth(guard, '/api/auth/sign-up/email', {
      name: 'Zed',
      email: 'zed@example.com',
      password: planted.weak,
    });
    expect(refused.status).toBe(400);
    const accepted = await postAuth(guard, '/api/auth/sign-up/email', {
      name: 'Zed',
      email: 'zed@example.com',
      password: planted.strong,
    });
    expect(accepted.status).toBe(200);
    await postAuth(guard, '/api/auth/reset-password', {
      newPassword: planted.weak,
      token: planted.reset,
    });
    for (let i = 0; i < 6; i += 1) await signIn(guard, 'alice@example.com', planted.wrong);

    const signedIn = await signIn(guard, 'dave@example.com', SEEDED_PASSWORD);
    const device = signedIn.cookies.find((c) => c.startsWith('__Host-ocomms-guard-device='));
    const step = await signIn(guard, 'bob@example.com', SEEDED_PASSWORD);
    const twoFactor = step.cookies.find((c) => c.startsWith('better-auth.two_factor=')) ?? '';
    await postAuth(
      guard,
      '/api/auth/two-factor/verify-totp',
      { code: '000000' },
      {
        cookie: twoFactor,
      },
    );
    const verified = await postAuth(
      guard,
      '/api/auth/two-factor/verify-totp',
      { code: SEEDED_TOTP_CODE },
      { cookie: twoFactor },
    );
    expect(verified.status).toBe(200);

    const secrets = [
      ...Object.values(planted),
      SEEDED_PASSWORD,
      String(signedIn.body.token),
      String(verified.body.token),
      cookieValue(device ?? 'x=missing-device-cookie'),
      cookieValue(twoFactor),
      ...signedIn.cookies.map(cookieValue).filter((value) => value.length > 8),
    ];
    expect(device).toBeDefined();
    const text = guard.logText();
    const eventTypes = guard.logs.map((line) => (line.event as { type?: string })?.type);
    for (const type of ['password.rejected', 'login.failed', 'account.locked']) {
      expect(eventTypes).toContain(type);
    }
    expect(eventTypes).toContain('login.succeeded');
    for (const secret of secrets) expect(text, secret).not.toContain(secret);
  });
});
