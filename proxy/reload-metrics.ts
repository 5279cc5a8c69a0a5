import { Counter, Gauge, type Registry } from 'prom-client';

// Alert on guard_config_last_reload_successful == 0: the file on disk is not
// what the guard runs.
export function createReloadMetrics(registry: Registry) {
  const reloads = new Counter({
    name: 'guard_config_reloads_total',
    help: 'Configuration reloads, by channel and outcome (applied or refused)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [registry],
  });
  const lastSuccessful = new Gauge({
    name: 'guard_config_last_reload_successful',
    help: 'Whether the last configuration reload was applied (1) or refused (0)',
    registers: [registry],
  });
  const lastApplied = new Gauge({
    name: 'guard_config_last_reload_success_timestamp_seconds',
    help: 'When a configuration (the first at start) was last put in service',
    registers: [registry],
  });
  lastSuccessful.set(1);
  lastApplied.set(Date.now() / 1000);

  return {
    record(channel: string, outcome: 'applied' | 'refused'): void {
      reloads.inc({ channel, outcome });
      lastSuccessful.set(outcome === 'applied' ? 1 : 0);
      if (outcome === 'applied') lastApplied.set(Date.now() / 1000);
    },
  };
}
