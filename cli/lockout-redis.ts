import { Registry } from 'prom-client';
import { createLogEvents } from '../audit/security-events.ts';
import { createLogger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { lockoutSettings } from '../policies/lockout-policy.ts';
import { createRedisLockoutStore } from '../policies/lockout-redis.ts';
import { accountKey } from '../policies/lockout-subjects.ts';
import { normaliseAccount } from '../policies/sign-in-outcome.ts';
import { createStore } from '../policies/store.ts';
import { viewOf } from '../proxy/admin-lockout.ts';
import type { LockoutAdmin } from './lockout.ts';

const READY_TIMEOUT_MS = 5000;

// The lockout commands straight on the shared Redis, for guards that run
// without an admin listener. The unlock is recorded as a security event on
// this command's standard error, the log stream it has.
export async function viaRedis(config: Config): Promise<LockoutAdmin & { close(): void }> {
  const logger = createLogger('info', process.stderr);
  const store = createStore(config.store, createLogger('silent'), new Registry());
  const redis = store.redis;
  if (!redis) throw new Error('store.redis is not configured');
  await new Promise<void>((resolve, reject) => {
    if (redis.status === 'ready') return resolve();
    const timer = setTimeout(() => reject(new Error('Redis is unreachable')), READY_TIMEOUT_MS);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });

  const lockouts = createRedisLockoutStore(redis, lockoutSettings(config.lockout, 0));
  const events = createLogEvents(logger.child({ component: 'audit' }));
  return {
    list: async () => (await lockouts.list(Date.now())).map(viewOf),
    async unlock(email, by) {
      const account = normaliseAccount(email);
      const cleared = await lockouts.unlock(accountKey(account), Date.now());
      events.emit({
        type: 'account.unlocked',
        outcome: 'success',
        actor: { account: by },
        details: { account, cleared: cleared.length },
      });
      return cleared.map(viewOf);
    },
    close: () => void store.close(),
  };
}
