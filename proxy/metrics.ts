import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createDbTunnelMetrics } from './db-tunnel-metrics.ts';

export type Metrics = ReturnType<typeof createMetrics>;

// One registry per guard, so tests that run several guards in one process keep
// their figures apart.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'guard_' });
  const requests = new Counter({
    name: 'guard_http_requests_total',
    help: 'Requests answered, by listener, route and status code',
    labelNames: ['listener', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'guard_http_request_duration_seconds',
    help: 'Time from request to the end of the response',
    labelNames: ['listener'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Label lookups hash their values on every call; the combinations are few
  // (listeners x routes x status codes), so each child is looked up once.
  const counters = new Map<string, ReturnType<typeof requests.labels>>();
  const timers = new Map<string, ReturnType<typeof duration.labels>>();

  return {
    registry,
    dbTunnel: createDbTunnelMetrics(registry),
    recordRequest(listener: string, route: string, status: number, seconds: number): void {
      const key = `${listener} ${route} ${status}`;
      let counter = counters.get(key);
      if (!counter) {
        counter = requests.labels(listener, route, String(status));
        counters.set(key, counter);
      }
      counter.inc();
      let timer = timers.get(listener);
      if (!timer) {
        timer = duration.labels(listener);
        timers.set(listener, timer);
      }
      timer.observe(seconds);
    },
    upstreamErrors: new Counter({
      name: 'guard_upstream_errors_total',
      help: 'Upstream failures, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    clientErrors: new Counter({
      name: 'guard_client_errors_total',
      help: 'Requests or connections refused before routing, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    websocketsOpen: new Gauge({
      name: 'guard_websockets_open',
      help: 'WebSocket connections currently relayed',
      registers: [registry],
    }),
    websocketsTotal: new Counter({
      name: 'guard_websockets_total',
      help: 'WebSocket connections relayed since start',
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'guard_certificate_expiry_timestamp_seconds',
      help: 'When each served certificate expires',
      labelNames: ['name'] as const,
      registers: [registry],
    }),
  };
}
