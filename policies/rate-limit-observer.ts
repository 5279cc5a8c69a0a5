import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { RateLimitObserver } from './rate-limits.ts';

const warnEveryMs = 10_000;

// Metrics and warnings of the rate limits. A store outage under load fails
// every request, so the warning is written at most once per rule every ten
// seconds; the counter carries the exact figure.
export function createRateLimitObserver(registry: Registry, logger: Logger): RateLimitObserver {
  const limited = new Counter({
    name: 'guard_rate_limited_total',
    help: 'Requests refused with 429, by rule',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'guard_rate_limit_store_errors_total',
    help: 'Rate-limit checks the store could not answer, by rule and what was done instead',
    labelNames: ['rule', 'fallback'] as const,
    registers: [registry],
  });
  const lastWarned = new Map<string, number>();
  const log = logger.child({ component: 'rate-limit' });

  return {
    limited(rule) {
      limited.inc({ rule });
    },
    storeError(rule, fallback) {
      storeErrors.inc({ rule, fallback });
      const now = Date.now();
      if (now - (lastWarned.get(rule) ?? -Infinity) < warnEveryMs) return;
      lastWarned.set(rule, now);
      log.warn({ rule, fallback }, 'rate limit store unavailable');
    },
  };
}
