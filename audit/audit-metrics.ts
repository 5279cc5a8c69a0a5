import { Counter, Gauge, type Registry } from 'prom-client';

export type AuditMetrics = ReturnType<typeof createAuditMetrics>;

export type SpoolGauges = { pendingBytes: number; pendingEvents: number };

export function createAuditMetrics(registry: Registry, spool: () => SpoolGauges | undefined) {
  new Gauge({
    name: 'guard_audit_spool_bytes',
    help: 'Bytes of audit events waiting in the local spool for the database',
    registers: [registry],
    collect() {
      this.set(spool()?.pendingBytes ?? 0);
    },
  });
  new Gauge({
    name: 'guard_audit_spool_events',
    help: 'Audit events waiting in the local spool for the database',
    registers: [registry],
    collect() {
      this.set(spool()?.pendingEvents ?? 0);
    },
  });
  return {
    emitted: new Counter({
      name: 'guard_audit_events_total',
      help: 'Security events emitted',
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'guard_audit_events_dropped_total',
      help: 'Security events not spooled because the spool was full (still logged)',
      registers: [registry],
    }),
    shipped: new Counter({
      name: 'guard_audit_events_shipped_total',
      help: 'Security events stored in the database',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'guard_audit_events_rejected_total',
      help: 'Security events the database refused as data, set aside in the spool folder',
      registers: [registry],
    }),
    shipFailures: new Counter({
      name: 'guard_audit_ship_failures_total',
      help: 'Failed attempts to ship a batch of audit events, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    databaseUp: new Gauge({
      name: 'guard_audit_database_up',
      help: '1 while the audit database takes events, 0 otherwise',
      registers: [registry],
    }),
  };
}
