import {
  type IRateLimiterOptions,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RateLimitRuleConfig } from '../config/policy-schema.ts';
import type { ResourceScope } from '../proxy/shared-resources.ts';
import type { GuardStore } from './store.ts';

export type Consumed =
  | { readonly kind: 'allowed'; readonly remaining: number; readonly resetMs: number }
  | { readonly kind: 'limited'; readonly retryMs: number }
  /** The store failed; the rule's onStoreError is "allow" or "deny". */
  | { readonly kind: 'store-error'; readonly fallback: 'allow' | 'deny' };

export type RuleLimiter = { consume(key: string): Promise<Consumed> };

/** Told each time a rule could not reach the store, with what it did instead. */
export type StoreErrorListener = (rule: string, fallback: 'memory' | 'allow' | 'deny') => void;

// Tells "the store failed" apart from "the limit is reached" here, once, so
// no caller has to: rate-limiter-flexible rejects with a RateLimiterRes for a
// limit and with an Error for a store failure.
export function createRuleLimiter(
  rule: RateLimitRuleConfig,
  store: GuardStore,
  onStoreError: StoreErrorListener,
  resources: ResourceScope,
): RuleLimiter {
  const options: IRateLimiterOptions = {
    keyPrefix: `rl:${rule.name}`,
    points: rule.limit,
    duration: rule.windowSeconds,
    blockDuration: rule.blockSeconds,
  };
  const limiter = store.redis
    ? new RateLimiterRedis({
        ...options,
        storeClient: store.redis,
        rejectIfRedisNotReady: true,
        ...(rule.onStoreError === 'memory'
          ? {
              insuranceLimiter: keptInMemory(
                `insurance:${rule.name}`,
                options,
                resources,
                () => new InsuranceLimiter(options, () => onStoreError(rule.name, 'memory')),
              ),
            }
          : {}),
      })
    : keptInMemory(`memory:${rule.name}`, options, resources, () => new RateLimiterMemory(options));

  return {
    async consume(key) {
      try {
        const result = await limiter.consume(key, 1);
        return { kind: 'allowed', remaining: result.remainingPoints, resetMs: result.msBeforeNext };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return { kind: 'limited', retryMs: rejection.msBeforeNext };
        }
        const fallback = rule.onStoreError === 'deny' ? 'deny' : 'allow';
        onStoreError(rule.name, fallback);
        return { kind: 'store-error', fallback };
      }
    },
  };
}

// Counters in Redis outlive a reload by themselves: a limiter rebuilt on the
// same client and key prefix reads the same keys. Counters in memory live in
// the limiter, so it is kept across reloads by rule name, and a changed
// limit, window or block time is given to it when the new rules take over.
function keptInMemory<T extends RateLimiterMemory>(
  name: string,
  options: IRateLimiterOptions,
  resources: ResourceScope,
  create: () => T,
): T {
  const limiter = resources.acquire(`rate-limit:${name}`, null, create);
  resources.onCommit(() => {
    limiter.points = options.points ?? limiter.points;
    limiter.duration = options.duration ?? limiter.duration;
    limiter.blockDuration = options.blockDuration ?? limiter.blockDuration;
  });
  return limiter;
}

// The per-instance limiter a rule falls back to while Redis is away
// (onStoreError: memory). It counts from zero on each instance, so during an
// outage each instance enforces the limit on its own.
class InsuranceLimiter extends RateLimiterMemory {
  readonly #used: () => void;

  constructor(options: IRateLimiterOptions, used: () => void) {
    super(options);
    this.#used = used;
  }

  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }) {
    this.#used();
    return super.consume(key, points, options);
  }
}
