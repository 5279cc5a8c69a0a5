import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

let app: OcommsDouble;
let db: AuditDb;

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
});
afterAll(async () => {
  await app.close();
  db.close();
});

async function emitSome(guard: TestGuard, from: number, count: number): Promise<void> {
  for (let index = from; index < from + count; index += 1) {
    guard.guard.runtime.events.emit({
      type: 'login.failed',
      outcome: 'failure',
      actor: { account: `user${index % 7}@example.com` },
      details: { index },
    });
    if (index % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function metric(guard: TestGuard, name: string): Promise<number> {
  const response = await request(`${guard.adminUrl}/metrics`);
  const text = await response.body.text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe('audit trail through a database outage', () => {
  it('loses and duplicates nothing when PostgreSQL stops and comes back', async () => {
    const guard = await startTestGuard(app.url, {
      audit: db.audit({ spool: { flushMs: 10, warnBytes: 4096 } }),
    });
    try {
      await emitSome(guard, 0, 150);
      await waitFor(() => db.count("type = 'login.failed'") > 0, 'first events shipped');

      db.pg.stop();
      await emitSome(guard, 150, 300);
      await waitFor(
        () =>
          guard.logs.some(
            (line) => line.msg === 'audit database unavailable: events wait in the spool',
          ),
        'the outage to be noticed',
      );
      await waitFor(
        async () => (await metric(guard, 'guard_audit_spool_events')) > 0,
        'spool metric',
      );
      expect(await metric(guard, 'guard_audit_spool_bytes')).toBeGreaterThan(4096);
      expect(guard.logs.some((line) => line.msg === 'audit spool growing')).toBe(true);

      db.pg.start();
      await emitSome(guard, 450, 150);
      const total = 600;
      await waitFor(
        () => db.count("type = 'login.failed'") === total,
        'every event stored',
        60_000,
      );
      await waitFor(async () => (await metric(guard, 'guard_audit_spool_events')) === 0, 'drain');

      const distinct = db.pg.psql(
        "select count(distinct id) from guard_audit_events where type = 'login.failed'",
      );
      expect(Number(distinct)).toBe(total);
      // In emission order, with the chain's sequence unbroken.
      const indexes = db.column("details->>'index'", "type = 'login.failed'").map(Number);
      expect(indexes).toEqual(Array.from({ length: total }, (_, index) => index));
      const seqs = db.column('seq').map(Number);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
      expect(guard.logs.some((line) => line.msg === 'audit database available')).toBe(true);
    } finally {
      await guard.close();
    }
  });
});
