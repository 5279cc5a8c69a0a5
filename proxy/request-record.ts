import { performance } from 'node:perf_hooks';
import type { Route } from '../policies/routes.ts';
import type { Arrival } from './arrival.ts';
import type { GuardRuntime } from './context.ts';

/** A request with no route of its own: refused before one was matched. */
export const fallbackRoute: Route = { name: 'none', maxBodyBytes: 0, sensitive: false };

// Matched before any refusal, so that a refused request is logged without
// the secret its path may carry too (`loggedPath`).
export function routeOf(arrival: Arrival, method: string | undefined): Route {
  if (arrival.path === undefined) return fallbackRoute;
  return arrival.policies.routes.match(method ?? 'GET', arrival.path);
}

/** What the access line and the request metrics take from a finished request. */
export type RecordedExchange = {
  readonly requestId: string;
  readonly startedAt: number;
  readonly upstreamMs: number | undefined;
  readonly route: { readonly name: string };
  readonly clientIp: string;
  /** As sent, without the query; with any secret it carries replaced. */
  readonly path: string;
};

// One count and one access line per request, WebSocket handshakes included
// (101 when the app took the upgrade).
export function recordExchange(
  runtime: GuardRuntime,
  listener: string,
  method: string | undefined,
  exchange: RecordedExchange,
  status: number,
): void {
  const durationMs = performance.now() - exchange.startedAt;
  runtime.metrics.recordRequest(listener, exchange.route.name, status, durationMs / 1000);
  if (!runtime.policies.config.log.access) return;
  const { upstreamMs } = exchange;
  runtime.accessLog.write({
    reqId: exchange.requestId,
    listener,
    clientIp: exchange.clientIp,
    method,
    path: exchange.path,
    route: exchange.route.name,
    status,
    durationMs: Math.round(durationMs * 10) / 10,
    upstreamMs: upstreamMs === undefined ? undefined : Math.round(upstreamMs * 10) / 10,
  });
}
