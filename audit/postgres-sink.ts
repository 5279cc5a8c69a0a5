import type pg from 'pg';
import type { AuditRecord } from './event-record.ts';

const columns = [
  'id',
  'stream',
  'seq',
  'version',
  'time',
  'type',
  'outcome',
  'actor_account',
  'actor_user_id',
  'client_ip',
  'user_agent',
  'request_id',
  'route',
  'method',
  'path',
  'status',
  'details',
  'prev_hash',
  'hash',
] as const;

function valuesOf(record: AuditRecord): unknown[] {
  return [
    record.id,
    record.stream,
    record.seq,
    record.version,
    record.time,
    record.type,
    record.outcome,
    record.account,
    record.userId,
    record.clientIp,
    record.userAgent,
    record.requestId,
    record.route,
    record.method,
    record.path,
    record.status,
    JSON.stringify(record.details),
    record.prevHash,
    record.hash,
  ];
}

// One statement per batch. The event id is the key: a batch sent again after
// a crash or a lost acknowledgement inserts nothing twice.
export async function insertRecords(pool: pg.Pool, records: AuditRecord[]): Promise<number> {
  if (records.length === 0) return 0;
  const params: unknown[] = [];
  const rows = records.map((record) => {
    const start = params.length;
    params.push(...valuesOf(record));
    return `(${columns.map((_, index) => `$${start + index + 1}`).join(', ')})`;
  });
  const sql =
    `insert into guard_audit_events (${columns.join(', ')}) values ${rows.join(', ')} ` +
    'on conflict do nothing';
  const result = await pool.query(sql, params);
  return result.rowCount ?? 0;
}

/** A value the database refuses (class 22: data exception), not a failure of the link. */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}
