import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import { nextjsInternalHeaders } from '../config/presets/nextjs-internal-headers.ts';
import type { Config } from '../config/schema.ts';
import type { ResourceScope } from './shared-resources.ts';

/** Client request headers that never reach the app, by exact name or prefix. */
export type RequestHeaderDrop = {
  /** Lower-case names. */
  readonly names: ReadonlySet<string>;
  /** Lower-case prefixes; few, usually one. */
  readonly prefixes: readonly string[];
  /** Counts and logs the names removed from one request (never their values). */
  report(removed: readonly string[], requestId: string): void;
};

// Undefined when nothing is to be dropped, so that requests pay nothing.
export function buildRequestHeaderDrop(
  config: Config,
  services: { registry: Registry; logger: Logger; resources: ResourceScope },
): RequestHeaderDrop | undefined {
  // Registered once per guard and kept across reloads, even while dropping
  // is off: a second registration of the same name throws.
  const dropped = services.resources.acquire('request-header-drop-metrics', null, () => {
    return new Counter({
      name: 'guard_request_headers_dropped_total',
      help: 'Client request header fields removed before forwarding, by configured name or prefix',
      labelNames: ['header'] as const,
      registers: [services.registry],
    });
  });
  const settings = config.upstream.dropRequestHeaders;
  const names = new Set(settings.names);
  const prefixes = new Set(settings.prefixes);
  if (settings.nextjsInternal ?? config.preset === 'ocomms') {
    for (const name of nextjsInternalHeaders.names) names.add(name);
    for (const prefix of nextjsInternalHeaders.prefixes) prefixes.add(prefix);
  }
  if (names.size === 0 && prefixes.size === 0) return undefined;

  const log = services.logger.child({ component: 'request-headers' });
  const prefixList = Object.freeze([...prefixes]);
  // The label is the configured entry, never the name a client made up, so
  // that a prefix cannot grow the number of series without bound.
  const entryOf = (name: string): string =>
    names.has(name) ? name : `${prefixList.find((prefix) => name.startsWith(prefix))}*`;
  return Object.freeze({
    names,
    prefixes: prefixList,
    report(removed: readonly string[], requestId: string): void {
      for (const name of removed) dropped.inc({ header: entryOf(name) });
      log.debug({ reqId: requestId, droppedHeaders: removed }, 'client headers dropped');
    },
  });
}

// Called for every header of every request: an indexed loop, which measured
// twice as fast as for-of here, and no regular expression.
export function isDropped(drop: RequestHeaderDrop, name: string): boolean {
  if (drop.names.has(name)) return true;
  const { prefixes } = drop;
  for (let index = 0; index < prefixes.length; index += 1) {
    if (name.startsWith(prefixes[index] as string)) return true;
  }
  return false;
}
