import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard } from '../support/guard-harness.ts';

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

describe('audit trail in PostgreSQL', () => {
  it('stores every event exactly once over verify-full TLS', async () => {
    const guard = await startTestGuard(app.url, { audit: db.audit() });
    try {
      const total = 300;
      for (let index = 0; index < total; index += 1) {
        guard.guard.runtime.events.emit({
          type: 'rate.limited',
          outcome: 'denied',
          clientIp: '192.0.2.7',
          details: { index },
        });
      }
      await waitFor(() => db.count("type = 'rate.limited'") === total, 'events in the table');
      expect(db.count('true')).toBe(
        Number(db.pg.psql('select count(distinct id) from guard_audit_events')),
      );
      const logged = guard.logs
        .filter((line) => line.msg === 'security event')
        .map((line) => line.event as { id: string; type: string })
        .filter((event) => event.type === 'rate.limited')
        .map((event) => event.id);
      expect(new Set(db.column('id', "type = 'rate.limited'"))).toEqual(new Set(logged));
      const tls = db.pg.psql(
        "select bool_and(ssl) from pg_stat_ssl join pg_stat_activity using (pid) where application_name = 'ocomms-guard'",
      );
      expect(tls.trim()).toBe('t');
    } finally {
      await guard.close();
    }
  });
});
