import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

// One registry per guard, so tests that run several guards in one process keep
// their figures apart.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'guard_' });

  return {
    registry,
    requests: new Counter({
      name: 'guard_http_requests_total',
      help: 'Requests answered, by listener, route and status code',
      labelNames: ['listener', 'route', 'status'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'guard_http_request_duration_seconds',
      help: 'Time from request to the end of the response',
      labelNames: ['listener'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
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
