import { Counter, Gauge, type Registry } from 'prom-client';

type Tracked = { id: string; installed?: { notAfter: Date } };

// Orders by outcome, and the seconds each ACME certificate has left,
// computed when /metrics is read so the figure is never stale.
export function createAcmeMetrics(
  registry: Registry | undefined,
  tracked: () => readonly Tracked[],
  now: () => number,
) {
  const registers = registry ? [registry] : [];
  const orders = new Counter({
    name: 'guard_acme_orders_total',
    help: 'ACME certificate orders, by result (issued, renewed, failed)',
    labelNames: ['result'] as const,
    registers,
  });
  new Gauge({
    name: 'guard_certificate_expiry_seconds',
    help: 'Seconds until each ACME certificate expires',
    labelNames: ['certificate'] as const,
    registers,
    collect() {
      for (const entry of tracked()) {
        if (!entry.installed) continue;
        const seconds = (entry.installed.notAfter.getTime() - now()) / 1000;
        this.set({ certificate: entry.id }, Math.round(seconds));
      }
    },
  });
  return { orders };
}
