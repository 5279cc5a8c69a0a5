import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { createAuditMetrics } from './audit-metrics.ts';
import { buildRecord, type IdentityMode } from './event-record.ts';
import { chainRecord } from './hash-chain.ts';
import { warnIfInsecure } from './postgres-connection.ts';
import { startRetention } from './retention.ts';
import type { SecurityEventInput, SecurityEvents } from './security-events.ts';
import { Shipper } from './shipper.ts';
import { Spool } from './spool.ts';

export type AuditTrail = {
  readonly events: SecurityEvents;
  readonly spool: Spool | undefined;
  close(deadlineMs: number): Promise<void>;
};

// The whole trail behind runtime.events: every event is logged; with a
// database configured it is also chained, spooled and shipped. emit() does
// only in-memory work, so no request ever waits for a disk or a database.
export function startAuditTrail(config: Config, logger: Logger, registry: Registry): AuditTrail {
  const audit = config.audit;
  const identity: IdentityMode =
    audit.identity === 'pseudonymised' && audit.identityKey
      ? { mode: 'pseudonymised', key: audit.identityKey }
      : { mode: 'plain' };
  const postgres = audit.postgres;
  const spoolDir = resolve(config.dataDir, 'audit-spool');
  const spool = postgres
    ? Spool.open({ dir: spoolDir, maxBytes: audit.spool.maxBytes, flushMs: audit.spool.flushMs })
    : undefined;
  const metrics = createAuditMetrics(registry, () => spool);
  let shipper: Shipper | undefined;
  let stopRetention: (() => void) | undefined;
  if (postgres && spool) {
    warnIfInsecure(postgres, logger);
    shipper = new Shipper(spool, postgres, spoolDir, logger, metrics);
    shipper.start();
    if (audit.retentionDays)
      stopRetention = startRetention(shipper.pool, audit.retentionDays, logger);
  }
  const watch = createGrowthWatch(logger, audit.spool.warnBytes, audit.spool.maxBytes);

  const events: SecurityEvents = {
    emit(input: SecurityEventInput) {
      const record = buildRecord(input, identity);
      metrics.emitted.inc();
      if (!spool) {
        logger.info({ event: record }, 'security event');
        return;
      }
      const chained = chainRecord(record, spool.head, audit.chainKey);
      if (!spool.append(chained)) {
        metrics.dropped.inc();
        watch.full(spool.pendingBytes);
        logger.info({ event: record, spooled: false }, 'security event');
        return;
      }
      logger.info({ event: chained }, 'security event');
      watch.check(spool.pendingBytes, spool.pendingEvents);
    },
  };

  return {
    events,
    spool,
    async close(deadlineMs) {
      stopRetention?.();
      if (shipper) await shipper.stop(deadlineMs);
      else await spool?.close();
    },
  };
}

// One warning when the spool passes warnBytes (again once it has drained to
// half of that), one error when it is full: a line per event would flood.
function createGrowthWatch(logger: Logger, warnBytes: number, maxBytes: number) {
  let warned = false;
  let full = false;
  return {
    check(pendingBytes: number, pendingEvents: number) {
      if (!warned && pendingBytes >= warnBytes) {
        warned = true;
        logger.warn({ pendingBytes, pendingEvents, warnBytes }, 'audit spool growing');
      } else if (warned && pendingBytes < warnBytes / 2) {
        warned = false;
        full = false;
      }
    },
    full(pendingBytes: number) {
      if (full) return;
      full = true;
      logger.error({ pendingBytes, maxBytes }, 'audit spool full: events are only logged');
    },
  };
}
