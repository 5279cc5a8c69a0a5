import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { SecurityEvents } from '../audit/security-events.ts';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { type AuthMetrics, createAuthMetrics } from '../policies/auth-metrics.ts';
import { loadDeviceCookieKey } from '../policies/device-cookie.ts';
import {
  buildLockoutPolicy,
  type LockoutPolicy,
  lockoutSettings,
} from '../policies/lockout-policy.ts';
import { createRedisLockoutStore } from '../policies/lockout-redis.ts';
import { buildPasswordPolicy, type PasswordPolicy } from '../policies/password-policy.ts';
import type { GuardStore } from '../policies/store.ts';

// The sign-in policies keep state (counters, the device cookie key), so they
// are built once per guard, not with the reloadable policies.
export type AuthRuntime = {
  readonly password: PasswordPolicy;
  readonly lockout: LockoutPolicy;
  readonly metrics: AuthMetrics;
};

export type AuthRuntimeOptions = {
  readonly registry: Registry;
  readonly events: SecurityEvents;
  readonly logger: Logger;
  /** The shared store; in memory mode the lockout keeps its state in this process. */
  readonly store: GuardStore;
  readonly now?: () => number;
};

export function buildAuthRuntime(config: Config, options: AuthRuntimeOptions): AuthRuntime {
  const metrics = createAuthMetrics(options.registry);
  const keyFile = join(config.dataDir, 'lockout-device.key');
  // The body is read before an attempt is admitted, so it stays in flight at
  // most until the app must have answered, and a little for the answer's body.
  const pendingMs = config.upstream.responseTimeoutMs + 10_000;
  const { store } = options;
  const settings = lockoutSettings(config.lockout, pendingMs);
  const lockout = buildLockoutPolicy(config.lockout, {
    store: store.redis ? createRedisLockoutStore(store.redis, settings) : undefined,
    // Each command already fails after commandTimeoutMs; this covers a script
    // and its reply together.
    storeTimeoutMs: store.commandTimeoutMs * 2 || 1000,
    deviceKey: loadDeviceCookieKey(config.lockout.deviceCookieSecret, keyFile),
    events: options.events,
    metrics,
    logger: options.logger,
    pendingMs,
    now: options.now,
  });
  return { password: buildPasswordPolicy(config.passwordPolicy), lockout, metrics };
}
