import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolOptions } from '../../audit/postgres-connection.ts';
import { startRetention } from '../../audit/retention.ts';
import { verifyChain } from '../../audit/verify-chain.ts';
import { createLogger } from '../../common/log.ts';
import { auditSchema } from '../../config/audit-schema.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard } from '../support/guard-harness.ts';

const writerPassword = `writer-${Math.random().toString(36).slice(2)}`;
let app: OcommsDouble;
let db: AuditDb;

function writerUrl(): string {
  return db.pg.url('localhost').replace(/\/\/[^@]+@/, `//ocomms_guard_writer:${writerPassword}@`);
}

function writerPool(): pg.Pool {
  const config = auditSchema.parse(db.audit({ postgres: { url: writerUrl() } })).postgres;
  if (!config) throw new Error('no postgres section');
  return new pg.Pool(poolOptions(config));
}

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  // The owner creates the schema once (as `ocomms-guard audit migrate` does)...
  const owner = await startTestGuard(app.url, { audit: db.audit() });
  await waitFor(() => db.count() >= 1, 'the schema and a first event');
  await owner.close();
  // ...and the guard runs as a role that may only insert and read: the
  // statements the README gives.
  db.pg.psql(
    [
      `create role ocomms_guard_writer login password '${writerPassword}'`,
      'grant select, insert on guard_audit_events to ocomms_guard_writer',
      'grant select on guard_audit_schema, guard_audit_checkpoints to ocomms_guard_writer',
      'grant execute on function guard_audit_prune(integer) to ocomms_guard_writer',
    ].join('; '),
  );
}, 90_000);
afterAll(async () => {
  await app.close();
  db.close();
});

describe('least-privilege audit role', () => {
  it('ships events with insert and select only, and can change nothing', async () => {
    const before = db.count();
    const guard = await startTestGuard(app.url, {
      audit: db.audit({ postgres: { url: writerUrl(), migrate: false } }),
    });
    try {
      for (let index = 0; index < 30; index += 1) {
        guard.guard.runtime.events.emit({
          type: 'csp.violation',
          outcome: 'info',
          details: { index },
        });
      }
      await waitFor(() => db.count() === before + 31, 'events stored by the writer role');
    } finally {
      await guard.close();
    }
    const pool = writerPool();
    try {
      await expect(
        pool.query('update guard_audit_events set outcome = $1', ['x']),
      ).rejects.toMatchObject({
        code: '42501',
      });
      await expect(pool.query('delete from guard_audit_events')).rejects.toMatchObject({
        code: '42501',
      });
      await expect(pool.query('truncate guard_audit_events')).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await pool.end();
    }
  });

  it('retention removes old events and leaves a chain that still verifies', async () => {
    const total = db.count();
    // Both streams (the owner's start and stop, the writer's events) lose their old end.
    const old = db.count('seq <= 10');
    expect(old).toBe(12);
    // Age the first ten events by three days (as the owner: the writer cannot).
    db.pg.psql("update guard_audit_events set time = time - interval '3 days' where seq <= 10");
    const pool = writerPool();
    try {
      // The guard's periodic job, run at once.
      const lines: string[] = [];
      const logger = createLogger('info', { write: (line: string) => lines.push(line) });
      const stop = startRetention(pool, 1, logger, 0);
      await waitFor(
        () => lines.some((line) => line.includes('audit retention pruned events')),
        'the retention job',
      );
      stop();
      expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ removed: old, keepDays: 1 });
      await expect(pool.query('select guard_audit_prune(0)')).rejects.toThrow(/at least 1/);
      expect(db.count()).toBe(total - old);
      const report = await verifyChain(pool, undefined);
      expect(report.problems).toEqual([]);
      expect(report.events).toBe(total - old);
      // Removing one more event by hand is still caught.
      db.pg.psql('delete from guard_audit_events where seq = 11');
      const broken = await verifyChain(pool, undefined);
      expect(broken.problems[0]?.kind).toBe('removed');
    } finally {
      await pool.end();
    }
  });
});
