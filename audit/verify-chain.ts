import type pg from 'pg';
import { genesisHash, hashRecord } from './hash-chain.ts';
import { queryStream } from './stored-events.ts';

export type ChainProblem = {
  readonly stream: string;
  readonly kind: 'altered' | 'removed' | 'inserted';
  /** The first event found wrong, or the first one after a gap. */
  readonly eventId: string;
  readonly seq: number;
  readonly message: string;
};

export type ChainReport = { streams: number; events: number; problems: ChainProblem[] };

const pageSize = 2000;

// Walks every stream in sequence order from its start (or from where
// retention cut it) and names the first event that does not fit: one whose
// content no longer matches its hash (altered), one after a gap in the
// sequence (removed before it), or one that does not link to the event
// before it (inserted). Events after the first problem are not judged.
export async function verifyChain(pool: pg.Pool, key: string | undefined): Promise<ChainReport> {
  const streams = await pool.query<{ stream: string }>(
    'select stream from guard_audit_events group by stream ' +
      'union select stream from guard_audit_checkpoints order by 1',
  );
  const checkpoints = await pool.query<{ stream: string; seq: string; hash: string }>(
    'select stream, seq, hash from guard_audit_checkpoints',
  );
  const cut = new Map(checkpoints.rows.map((row) => [row.stream, row]));
  const report: ChainReport = { streams: streams.rows.length, events: 0, problems: [] };
  for (const { stream } of streams.rows) {
    const start = cut.get(stream);
    const problem = await verifyStream(
      pool,
      stream,
      start ? Number(start.seq) : 0,
      start?.hash ?? genesisHash,
      key,
      report,
    );
    if (problem) report.problems.push(problem);
  }
  return report;
}

async function verifyStream(
  pool: pg.Pool,
  stream: string,
  startSeq: number,
  startHash: string,
  key: string | undefined,
  report: ChainReport,
): Promise<ChainProblem | undefined> {
  let seq = startSeq;
  let hash = startHash;
  for (;;) {
    const page = await queryStream(pool, stream, seq, pageSize);
    if (page.length === 0) return undefined;
    for (const event of page) {
      report.events += 1;
      const at = { stream, eventId: event.id, seq: event.seq };
      if (event.seq !== seq + 1) {
        const missing = event.seq - seq - 1;
        const message = `${missing} event(s) before seq ${event.seq} are missing`;
        return { ...at, kind: 'removed', message };
      }
      const { rowNo: _rowNo, hash: stored, ...content } = event;
      if (hashRecord(content, key) !== stored) {
        return { ...at, kind: 'altered', message: 'content does not match its hash' };
      }
      if (event.prevHash !== hash) {
        const message = `does not link to seq ${seq}: that event was replaced or this one inserted`;
        return { ...at, kind: 'inserted', message };
      }
      seq = event.seq;
      hash = stored;
    }
  }
}
