import { startTestPostgres, type TestPostgres } from './postgres-server.ts';
import { createTestCa, type TestCa } from './test-ca.ts';

export type AuditDb = {
  readonly pg: TestPostgres;
  readonly ca: TestCa;
  /** An `audit:` section that reaches this server over verify-full TLS. */
  audit(extra?: Record<string, unknown>, host?: string): Record<string, unknown>;
  /** Rows in the events table (0 before the guard created it). */
  count(where?: string): number;
  /** A column of the events table, one value per row, in row order. */
  column(name: string, where?: string): string[];
  close(): void;
};

// A throwaway PostgreSQL with a certificate for localhost and 127.0.0.1 from
// its own CA, and quick views of the audit table through psql.
export async function startAuditDb(): Promise<AuditDb> {
  const ca = createTestCa('audit-ca');
  const leaf = ca.issue('localhost', ['localhost', '127.0.0.1']);
  const pg = await startTestPostgres({ tls: leaf });
  const exists = () =>
    pg.psql("select to_regclass('guard_audit_events') is not null").trim() === 't';
  return {
    pg,
    ca,
    audit(extra = {}, host = 'localhost') {
      const postgres = {
        url: pg.url(host),
        tls: { ca: ca.certPath },
        ...((extra.postgres as Record<string, unknown> | undefined) ?? {}),
      };
      return { spool: { flushMs: 10 }, ...extra, postgres };
    },
    count(where = 'true') {
      if (!exists()) return 0;
      return Number(pg.psql(`select count(*) from guard_audit_events where ${where}`).trim());
    },
    column(name, where = 'true') {
      if (!exists()) return [];
      const text = pg.psql(`select ${name} from guard_audit_events where ${where} order by row_no`);
      return text.split('\n').filter((line) => line !== '');
    },
    close: () => pg.close(),
  };
}

/** Polls until the check holds; fails with `what` after the timeout. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
