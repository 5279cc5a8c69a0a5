import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff } from '../support/policy-requests.ts';
import { postAuth, signIn } from './auth-client.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, { rateLimits: presetLimitsOff() });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

function reachedApp(path: string): number {
  return app.requests.filter((request) => request.url === path).length;
}

describe('password policy through the guard', () => {
  it('refuses a weak sign-up password in the app shape, with headers, unforwarded', async () => {
    const before = reachedApp('/api/auth/sign-up/email');
    const answer = await postAuth(guard, '/api/auth/sign-up/email', {
      name: 'Peggy Olson',
      email: 'peggy.olson@example.com',
      password: 'peggy.olson2024!',
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'PASSWORD_TOO_WEAK' });
    expect(String(answer.body.message)).toMatch(/^This password is too easy to guess\. \S/);
    expect(answer.body.requestId).toBe(answer.headers['x-request-id']);
    expect(answer.headers['x-frame-options']).toBe('DENY');
    expect(answer.headers['strict-transport-security']).toContain('max-age=');
    expect(reachedApp('/api/auth/sign-up/email')).toBe(before);
    expect(app.users.has('peggy.olson@example.com')).toBe(false);
  });

  it('lets a strong password through to the app', async () => {
    const answer = await postAuth(guard, '/api/auth/sign-up/email', {
      name: 'Ted Chaough',
      email: 'ted@example.com',
      password: 'orbit kettle marmalade 42',
    });
    expect(answer.status).toBe(200);
    expect(app.users.get('ted@example.com')?.password).toBe('orbit kettle marmalade 42');
  });

  it('judges urlencoded bodies the same way', async () => {
    const answer = await postAuth(
      guard,
      '/api/auth/sign-up/email',
      'name=Joan&email=joan%40example.com&password=password1234',
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('PASSWORD_TOO_WEAK');
  });

  it('applies to reset-password and change-password', async () => {
    const reset = await postAuth(guard, '/api/auth/reset-password', {
      newPassword: 'short',
      token: 'whatever',
    });
    expect(reset.status).toBe(400);
    expect(reset.body).toMatchObject({
      code: 'PASSWORD_TOO_WEAK',
      message: 'Use at least 12 characters.',
    });

    const session = await signIn(guard, 'dave@example.com', 'correct horse battery staple');
    expect(session.status).toBe(200);
    const cookie = session.cookies.join('; ');
    const change = await postAuth(
      guard,
      '/api/auth/change-password',
      { currentPassword: 'correct horse battery staple', newPassword: 'qwertyuiop123' },
      { cookie },
    );
    expect(change.status).toBe(400);
    expect(change.body.code).toBe('PASSWORD_TOO_WEAK');
    const good = await postAuth(
      guard,
      '/api/auth/change-password',
      { currentPassword: 'correct horse battery staple', newPassword: 'violet anchor tundra 9' },
      { cookie },
    );
    expect(good.status).toBe(200);
  });

  it('records the rule, never the password, as a security event', async () => {
    const answer = await postAuth(guard, '/api/auth/sign-up/email', {
      name: 'Pete',
      email: 'pete@example.com',
      password: 'plantedplanted',
    });
    expect(answer.status).toBe(400);
    const event = guard.logs
      .map((line) => line.event as Record<string, unknown> | undefined)
      .filter((candidate) => candidate?.type === 'password.rejected')
      .at(-1);
    expect(event).toMatchObject({ outcome: 'denied', route: 'sign-up', status: 400 });
    expect(guard.logText()).not.toContain('plantedplanted');
  });
});
