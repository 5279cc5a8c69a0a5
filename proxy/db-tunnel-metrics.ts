import { Counter, Gauge, type Registry } from 'prom-client';

export type DbTunnelMetrics = ReturnType<typeof createDbTunnelMetrics>;

// Registered with the guard's other metrics, present (at zero) even when no
// tunnel is configured, so dashboards need no special case.
export function createDbTunnelMetrics(registry: Registry) {
  const bytes = new Counter({
    name: 'guard_db_tunnel_bytes_total',
    help: 'Bytes relayed through the database tunnel, by direction',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  return {
    connections: new Counter({
      name: 'guard_db_tunnel_connections_total',
      help: 'Client connections accepted by the database tunnel',
      registers: [registry],
    }),
    open: new Gauge({
      name: 'guard_db_tunnel_connections_open',
      help: 'Client connections the database tunnel holds now',
      registers: [registry],
    }),
    failures: new Counter({
      name: 'guard_db_tunnel_failures_total',
      help: 'Tunnelled connections that failed or ended abnormally, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    // Looked up once: the counters are bumped on every chunk relayed.
    bytesToServer: bytes.labels('to_server'),
    bytesToClient: bytes.labels('to_client'),
  };
}
