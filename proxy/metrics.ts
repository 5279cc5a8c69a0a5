import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createDbTunnelMetrics } from './db-tunnel-metrics.ts';

export type Metrics = ReturnType<typeof createMetrics>;

// One registry per guard, so tests that run several guards in one process keep
// their figures apart.
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'guard_' });
  // Each request adds to plain numbers here; prom-client gets them in one go
  // when /metrics is read or enough have gathered. prom-client validates and
  // hashes the label values on every call: in a batch, once per label set.
  const pending = new RequestTally(() => flush());
  const requests = new Counter({
    name: 'guard_http_requests_total',
    help: 'Requests answered, by listener, route and status code',
    labelNames: ['listener', 'route', 'status'] as const,
    registers: [registry],
    collect: () => pending.flush(),
  });
  const duration = new Histogram({
    name: 'guard_http_request_duration_seconds',
    help: 'Time from request to the end of the response',
    labelNames: ['listener'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
    collect: () => pending.flush(),
  });
  const counters = new Map<string, ReturnType<typeof requests.labels>>();
  const timers = new Map<string, ReturnType<typeof duration.labels>>();

  function flush(): void {
    for (const [key, tally] of pending.counts) {
      let counter = counters.get(key);
      if (!counter) {
        counter = requests.labels(tally.listener, tally.route, String(tally.status));
        counters.set(key, counter);
      }
      counter.inc(tally.count);
    }
    for (const [listener, seconds] of pending.durations) {
      let timer = timers.get(listener);
      if (!timer) {
        timer = duration.labels(listener);
        timers.set(listener, timer);
      }
      for (const value of seconds) timer.observe(value);
    }
  }

  return {
    registry,
    dbTunnel: createDbTunnelMetrics(registry),
    recordRequest(listener: string, route: string, status: number, seconds: number): void {
      pending.add(listener, route, status, seconds);
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

type Tally = { listener: string; route: string; status: number; count: number };

// Requests not yet handed to prom-client.
class RequestTally {
  counts = new Map<string, Tally>();
  durations = new Map<string, number[]>();
  #size = 0;
  readonly #hand: () => void;
  static readonly batch = 512;

  constructor(hand: () => void) {
    this.#hand = hand;
  }

  add(listener: string, route: string, status: number, seconds: number): void {
    const key = `${listener}\n${route}\n${status}`;
    const tally = this.counts.get(key);
    if (tally) tally.count += 1;
    else this.counts.set(key, { listener, route, status, count: 1 });
    const list = this.durations.get(listener);
    if (list) list.push(seconds);
    else this.durations.set(listener, [seconds]);
    this.#size += 1;
    if (this.#size >= RequestTally.batch) this.flush();
  }

  flush(): void {
    if (this.#size === 0) return;
    this.#hand();
    this.counts.clear();
    this.durations.clear();
    this.#size = 0;
  }
}
