import type pg from 'pg';
import type { AuditRecord } from './event-record.ts';

export type StoredEvent = AuditRecord & { rowNo: number };

type EventRow = {
  row_no: string;
  id: string;
  stream: string;
  seq: string;
  version: number;
  time: Date;
  type: string;
  outcome: string;
  actor_account: string | null;
  actor_user_id: string | null;
  client_ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  route: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  details: Record<string, string | number | boolean | null> | null;
  prev_hash: string;
  hash: string;
};

export const eventColumns =
  'row_no, id, stream, seq, version, time, type, outcome, actor_account, actor_user_id, ' +
  'client_ip, user_agent, request_id, route, method, path, status, details, prev_hash, hash';

// A row read back as the record that was hashed: the same field values, the
// time in the same ISO form (the column keeps microseconds; events have ms).
export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    rowNo: Number(row.row_no),
    version: row.version,
    id: row.id,
    stream: row.stream,
    seq: Number(row.seq),
    time: row.time.toISOString(),
    type: row.type,
    outcome: row.outcome,
    account: row.actor_account,
    userId: row.actor_user_id,
    clientIp: row.client_ip,
    userAgent: row.user_agent,
    requestId: row.request_id,
    route: row.route,
    method: row.method,
    path: row.path,
    status: row.status,
    details: row.details ?? {},
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export type EventFilter = {
  type?: string | undefined;
  /** Any of these values in the account or user id column. */
  actors?: string[] | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  afterRow?: number | undefined;
  limit: number;
  /** The newest `limit` events (still returned oldest first). */
  newest?: boolean;
};

export async function queryEvents(pool: pg.Pool, filter: EventFilter): Promise<StoredEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (placeholder: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (filter.type) add((p) => `type = ${p}`, filter.type);
  if (filter.actors?.length) {
    add((p) => `(actor_account = any(${p}) or actor_user_id = any(${p}))`, filter.actors);
  }
  if (filter.since) add((p) => `time >= ${p}`, filter.since);
  if (filter.until) add((p) => `time < ${p}`, filter.until);
  if (filter.afterRow !== undefined) add((p) => `row_no > ${p}`, filter.afterRow);
  const condition = where.length ? `where ${where.join(' and ')}` : '';
  const order = filter.newest ? 'row_no desc' : filter.since ? 'time, row_no' : 'row_no';
  params.push(filter.limit);
  const limit = `limit $${params.length}`;
  const sql = `select ${eventColumns} from guard_audit_events ${condition} order by ${order} ${limit}`;
  const result = await pool.query<EventRow>(sql, params);
  const events = result.rows.map(toStoredEvent);
  return filter.newest ? events.reverse() : events;
}

export async function queryStream(
  pool: pg.Pool,
  stream: string,
  afterSeq: number,
  limit: number,
): Promise<StoredEvent[]> {
  const result = await pool.query<EventRow>(
    `select ${eventColumns} from guard_audit_events where stream = $1 and seq > $2 ` +
      'order by seq limit $3',
    [stream, afterSeq, limit],
  );
  return result.rows.map(toStoredEvent);
}

/** One line for a terminal: time, type, outcome, who, what, request id. */
export function formatEvent(event: StoredEvent): string {
  const who = event.account ?? event.userId ?? '-';
  const status = event.status === null ? '' : ` ${event.status}`;
  const what =
    event.method || event.path ? `${event.method ?? ''} ${event.path ?? ''}${status}` : '';
  const details = Object.entries(event.details)
    .filter(([, value]) => value !== null)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(' ');
  const fields = [
    event.time,
    event.type.padEnd(28),
    event.outcome.padEnd(7),
    who,
    event.clientIp ?? '-',
    what.trim(),
    details,
    event.requestId ? `req=${event.requestId}` : '',
  ];
  return fields.filter((field) => field !== '').join('  ');
}
