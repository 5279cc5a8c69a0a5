import { Counter, Gauge, type Registry } from 'prom-client';

export type DbTunnelMetrics = ReturnType<typeof createDbTunnelMetrics>;

// Registered with the guard's other metrics, present (at zero) even when no
// tunnel is configured, so dashboards need no special case.
export function createDbTunnelMetrics(registry: Registry) {
  // Bytes are added up in plain numbers and handed to the counter when
  // /metrics is read: a bulk COPY relays tens of thousands of chunks a second.
  const pending = { toServer: 0, toClient: 0 };
  new Counter({
    name: 'guard_db_tunnel_bytes_total',
    help: 'Bytes relayed through the database tunnel, by direction',
    labelNames: ['direction'] as const,
    registers: [registry],
    collect() {
      this.inc({ direction: 'to_server' }, pending.toServer);
      this.inc({ direction: 'to_client' }, pending.toClient);
      pending.toServer = 0;
      pending.toClient = 0;
    },
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
    addBytesToServer(bytes: number): void {
      pending.toServer += bytes;
    },
    addBytesToClient(bytes: number): void {
      pending.toClient += bytes;
    },
  };
}
