import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

beforeEach(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, { rateLimits: presetLimitsOff() });
});
afterEach(async () => {
  await guard.close();
  await app.close();
});

const SIGN_IN = '/api/auth/sign-in/email';

function signInsReachingApp(): number {
  return app.requests.filter((request) => request.url === SIGN_IN).length;
}

function events(type: string): Record<string, unknown>[] {
  return guard.logs
    .map((line) => line.event as Record<string, unknown> | undefined)
    .filter((event): event is Record<string, unknown> => event?.type === type);
}

describe('account lockout through the guard', () => {
  it('locks after five failures and answers without forwarding', async () => {
    for (let i = 0; i < 5; i += 1) {
      expect((await signIn(guard, 'alice@example.com', `wrong-${i}`)).status).toBe(401);
    }
    const locked = await signIn(guard, 'alice@example.com', SEEDED_PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({
      code: 'GUARD_ERR_LOGIN_LOCKED',
      message: 'Too many failed sign-in attempts. Try again later.',
    });
    expect(locked.headers['retry-after']).toBe('900');
    expect(locked.headers['x-retry-after']).toBe('900');
    expect(locked.headers['x-content-type-options']).toBe('nosniff');
    expect(locked.headers['content-security-policy']).toBeDefined();
    expect(signInsReachingApp()).toBe(5);

    expect(events('login.failed')).toHaveLength(5);
    expect(events('account.locked')[0]).toMatchObject({
      outcome: 'denied',
      account: 'alice@example.com',
      clientIp: '127.0.0.1',
      details: { scope: 'account', level: 1 },
    });
    expect(events('login.blocked')).toHaveLength(1);

    const metrics = await (await request(`${guard.adminUrl}/metrics`)).body.text();
    expect(metrics).toContain('guard_login_outcomes_total{step="password",outcome="failure"} 5');
    expect(metrics).toContain('guard_lockouts_total{scope="account"} 1');
    expect(metrics).toContain('guard_login_refusals_total{reason="locked"} 1');
  });

  it('answers the same for an email that has no account', async () => {
    for (let i = 0; i < 5; i += 1) await signIn(guard, 'alice@example.com', `wrong-${i}`);
    for (let i = 0; i < 5; i += 1) await signIn(guard, 'nobody@example.com', `wrong-${i}`);
    const known = await signIn(guard, 'alice@example.com', 'again');
    const unknown = await signIn(guard, 'nobody@example.com', 'again');
    expect(unknown.status).toBe(known.status);
    expect(Object.keys(unknown.body).sort()).toEqual(Object.keys(known.body).sort());
    expect(unknown.body.message).toBe(known.body.message);
    expect(unknown.headers['retry-after']).toBe(known.headers['retry-after']);
  });

  it('lets at most five of fifty parallel wrong passwords reach the app', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => signIn(guard, 'dave@example.com', `guess-${i}`)),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status !== 401).every((status) => status === 429)).toBe(
      true,
    );
    expect(signInsReachingApp()).toBeLessThanOrEqual(5);
  });

  it('lets the owner in from their usual browser while the account is locked', async () => {
    const first = await signIn(guard, 'alice@example.com', SEEDED_PASSWORD);
    expect(first.status).toBe(200);
    const device = first.cookies.find((cookie) => cookie.startsWith('__Host-ocomms-guard-device='));
    expect(device).toBeDefined();
    const raw = ([] as string[]).concat(first.headers['set-cookie'] ?? []).join('\n');
    expect(raw).toMatch(/__Host-ocomms-guard-device=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; Secure/);

    for (let i = 0; i < 5; i += 1) await signIn(guard, 'alice@example.com', `attacker-${i}`);
    expect((await signIn(guard, 'alice@example.com', SEEDED_PASSWORD)).status).toBe(429);
    const owner = await signIn(guard, 'alice@example.com', SEEDED_PASSWORD, device);
    expect(owner.status).toBe(200);
    expect(owner.body.token).toEqual(expect.any(String));
  });

  it('keeps counting when an attacker signs into their own account between guesses', async () => {
    for (let i = 0; i < 4; i += 1) {
      expect((await signIn(guard, 'alice@example.com', `guess-${i}`)).status).toBe(401);
      expect((await signIn(guard, 'dave@example.com', SEEDED_PASSWORD)).status).toBe(200);
    }
    expect((await signIn(guard, 'alice@example.com', 'guess-4')).status).toBe(401);
    expect((await signIn(guard, 'alice@example.com', SEEDED_PASSWORD)).status).toBe(429);
  });

  it('counts case and whitespace variants of an email as one account', async () => {
    const variants = [
      'Alice@Example.com',
      'ALICE@EXAMPLE.COM',
      'alice@example.COM',
      'aLiCe@example.com',
      'alice@EXAMPLE.com',
    ];
    for (const email of variants) expect((await signIn(guard, email, 'wrong')).status).toBe(401);
    for (const email of [' alice@example.com', 'alice@example.com\t', 'ALICE@example.com']) {
      expect((await signIn(guard, email, SEEDED_PASSWORD)).status).toBe(429);
    }
    const locks = events('account.locked').map((event) => event.details);
    expect(locks).toEqual([
      expect.objectContaining({ scope: 'account' }),
      expect.objectContaining({ scope: 'address' }),
    ]);
  });

  it('does not count answers that say nothing about the password', async () => {
    for (let i = 0; i < 6; i += 1) {
      // The unverified account answers 403 even with the right password.
      expect((await signIn(guard, 'carol@example.com', SEEDED_PASSWORD)).status).toBe(403);
      expect((await signIn(guard, 'not-an-email', 'whatever')).status).toBe(400);
    }
    expect((await signIn(guard, 'carol@example.com', SEEDED_PASSWORD)).status).toBe(403);
  });

  it('counts failed second-factor codes against the account', async () => {
    const step = await signIn(guard, 'bob@example.com', SEEDED_PASSWORD);
    expect(step.body).toEqual({ twoFactorRedirect: true });
    expect(step.cookies.some((c) => c.startsWith('__Host-ocomms-guard-device='))).toBe(false);
    expect(events('login.second_factor_required')).toHaveLength(1);
    const cookie = step.cookies.filter((c) => c.startsWith('better-auth.two_factor=')).join('; ');

    for (let i = 0; i < 5; i += 1) {
      const wrong = await postAuth(
        guard,
        '/api/auth/two-factor/verify-totp',
        { code: '000000' },
        {
          cookie,
        },
      );
      expect(wrong.status).toBe(401);
    }
    const locked = await postAuth(
      guard,
      '/api/auth/two-factor/verify-totp',
      { code: SEEDED_TOTP_CODE },
      { cookie },
    );
    expect(locked.status).toBe(429);
    expect((await signIn(guard, 'bob@example.com', SEEDED_PASSWORD)).status).toBe(429);
  });

  it('gives a device cookie once the second factor is passed', async () => {
    const step = await signIn(guard, 'bob@example.com', SEEDED_PASSWORD);
    const cookie = step.cookies.filter((c) => c.startsWith('better-auth.two_factor=')).join('; ');
    const verified = await postAuth(
      guard,
      '/api/auth/two-factor/verify-totp',
      { code: SEEDED_TOTP_CODE },
      { cookie },
    );
    expect(verified.status).toBe(200);
    expect(verified.cookies.some((c) => c.startsWith('__Host-ocomms-guard-device='))).toBe(true);
    expect(events('login.succeeded')[0]).toMatchObject({
      account: 'bob@example.com',
      details: { step: 'second-factor' },
    });
  });
});
