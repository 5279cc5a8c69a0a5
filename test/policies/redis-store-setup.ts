import { expect } from 'vitest';
import type { TestGuard } from '../support/guard-harness.ts';
import { freshClientIp, postJson, presetLimitsOff, send } from '../support/policy-requests.ts';

// What the rate-limit tests on a shared Redis have in common: the sign-in
// attempt they count, polling the store's state, and three rules that show
// the three declared onStoreError behaviours when Redis cannot be used.

export const signIn = '/api/auth/sign-in/email';

export function attempt(guard: TestGuard, ip: string, email: string) {
  return postJson(guard, signIn, { email, password: 'wrong' }, { 'x-forwarded-for': ip });
}

export async function waitForStore(guard: TestGuard, state: string): Promise<void> {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const ready = (await (await fetch(`${guard.adminUrl}/readyz`)).json()) as { store?: string };
    if (ready.store === state) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`store never became ${state}`);
}

export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

// Three rules with the three declared behaviours; each on its own path.
export const outageRules = [
  ...presetLimitsOff(),
  {
    name: 'with-memory',
    match: { path: signIn, methods: ['POST'] },
    key: ['ip'],
    limit: 3,
    windowSeconds: 60,
    onStoreError: 'memory',
  },
  {
    name: 'with-allow',
    match: { path: '/api/admin/audit-logs' },
    key: ['ip'],
    limit: 2,
    windowSeconds: 60,
    onStoreError: 'allow',
  },
  {
    name: 'with-deny',
    match: { path: '/api/health' },
    key: ['ip'],
    limit: 100,
    windowSeconds: 60,
    onStoreError: 'deny',
  },
];

/** Without a usable store: memory counts alone, allow lets through, deny answers 503. */
export async function expectDeclaredBehaviour(guard: TestGuard) {
  const ip = freshClientIp();
  const headers = { 'x-forwarded-for': ip };
  for (let index = 0; index < 3; index += 1) {
    const { value, ms } = await timed(() => attempt(guard, ip, `outage${index}@example.com`));
    expect(value.status).toBe(401);
    expect(ms).toBeLessThan(2000);
  }
  expect((await attempt(guard, ip, 'outage-last@example.com')).status).toBe(429);

  for (let index = 0; index < 4; index += 1) {
    const { value, ms } = await timed(() => send(guard, '/api/admin/audit-logs', { headers }));
    expect(value.status).toBe(307);
    expect(ms).toBeLessThan(2000);
  }
  const { value: denied, ms } = await timed(() => send(guard, '/api/health', { headers }));
  expect(denied.status).toBe(503);
  expect(JSON.parse(denied.text)).toMatchObject({ code: 'GUARD_ERR_STORE_UNAVAILABLE' });
  expect(ms).toBeLessThan(2000);
}
