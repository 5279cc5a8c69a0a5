import { createHash, createHmac } from 'node:crypto';
import type { AuditRecord, UnchainedRecord } from './event-record.ts';

/** The previous hash of a stream's first event. */
export const genesisHash = '0'.repeat(64);

export type ChainHead = { stream: string; seq: number; hash: string };

// Each event carries the hash of the one before it in its stream, so a row
// changed, removed or slipped in breaks every link after it. With a key
// (HMAC) someone who can write to the table cannot forge a matching chain.
export function chainRecord(
  record: UnchainedRecord,
  head: ChainHead,
  key: string | undefined,
): AuditRecord {
  const linked = {
    ...record,
    stream: head.stream,
    seq: head.seq + 1,
    prevHash: head.hash,
    hash: '',
  };
  linked.hash = hashRecord(linked, key);
  return linked;
}

export function hashRecord(record: Omit<AuditRecord, 'hash'>, key: string | undefined): string {
  const text = canonicalText(record);
  const digest = key ? createHmac('sha256', key) : createHash('sha256');
  return digest.update(text).digest('hex');
}

// A fixed order of fields and sorted detail keys: the same text whether the
// record comes from the spool or is read back from PostgreSQL.
function canonicalText(record: Omit<AuditRecord, 'hash'>): string {
  const details = Object.keys(record.details)
    .sort()
    .map((name) => [name, record.details[name] ?? null]);
  return JSON.stringify([
    record.version,
    record.id,
    record.stream,
    record.seq,
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
    details,
    record.prevHash,
  ]);
}
