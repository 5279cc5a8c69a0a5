import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { StoreConfig } from '../config/policy-schema.ts';
import { createRedisClient, type RedisClient } from './redis-client.ts';

export type StoreState = 'memory' | 'ready' | 'unavailable';

/**
 * The state shared by the policies of every guard instance: Redis when
 * `store.redis` is configured, else each policy keeps its state in memory.
 * Policies build their own limiters or keys on `redis`; the client already
 * carries `keyPrefix`, so keys are written without it.
 */
export type GuardStore = {
  readonly kind: 'memory' | 'redis';
  readonly redis: RedisClient | undefined;
  /** Every command fails after this long, so no request waits on Redis longer. */
  readonly commandTimeoutMs: number;
  state(): StoreState;
  close(): Promise<void>;
};

export function createStore(config: StoreConfig, logger: Logger, registry: Registry): GuardStore {
  const up = new Gauge({
    name: 'guard_store_up',
    help: 'Whether the shared store answers: 1 ready, 0 unavailable (absent in memory mode)',
    registers: [registry],
  });
  const settings = config.redis;
  if (!settings) {
    return {
      kind: 'memory',
      redis: undefined,
      commandTimeoutMs: 0,
      state: () => 'memory',
      close: async () => {},
    };
  }

  const redis = createRedisClient(settings);
  let available = false;
  let warned = false;
  up.set(0);
  const log = logger.child({ component: 'store' });
  redis.on('ready', () => {
    available = true;
    warned = false;
    up.set(1);
    log.info('store ready');
  });
  // ioredis reports each failed reconnect; one warning per outage is enough.
  const lost = (reason: string) => {
    if (!warned) log.warn({ reason }, 'store unavailable');
    warned = true;
    available = false;
    up.set(0);
  };
  redis.on('error', (error: NodeJS.ErrnoException) => lost(error.code ?? 'error'));
  redis.on('close', () => lost('closed'));

  return {
    kind: 'redis',
    redis,
    commandTimeoutMs: settings.commandTimeoutMs,
    state: () => (available && redis.status === 'ready' ? 'ready' : 'unavailable'),
    async close() {
      redis.disconnect(false);
    },
  };
}
