import { Counter, type Registry } from 'prom-client';

export type AuthMetrics = ReturnType<typeof createAuthMetrics>;

// Figures for the sign-in policies, on the guard's own registry.
export function createAuthMetrics(registry: Registry) {
  return {
    loginOutcomes: new Counter({
      name: 'guard_login_outcomes_total',
      help: 'Sign-in answers seen, by step (password, second-factor) and outcome',
      labelNames: ['step', 'outcome'] as const,
      registers: [registry],
    }),
    lockouts: new Counter({
      name: 'guard_lockouts_total',
      help: 'Locks started, by scope (account, address, device)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    loginRefusals: new Counter({
      name: 'guard_login_refusals_total',
      help: 'Sign-in attempts answered by the guard, by reason (locked, busy, store)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lockoutStoreErrors: new Counter({
      name: 'guard_lockout_store_errors_total',
      help: 'Lockout store calls that failed or timed out',
      registers: [registry],
    }),
    passwordRejections: new Counter({
      name: 'guard_password_rejections_total',
      help: 'New passwords refused, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
  };
}
