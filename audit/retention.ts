import type pg from 'pg';
import type { Logger } from '../common/log.ts';

const intervalMs = 60 * 60 * 1000;

// Removes events older than the retention from the old end of each stream,
// through the database's own guard_audit_prune function (which records where
// it cut, so the chain stays verifiable). Hourly; a failure waits an hour.
export function startRetention(
  pool: pg.Pool,
  keepDays: number,
  logger: Logger,
  firstRunMs = 60 * 1000,
): () => void {
  const run = async () => {
    try {
      const result = await pool.query<{ removed: string }>(
        'select guard_audit_prune($1) as removed',
        [keepDays],
      );
      const removed = Number(result.rows[0]?.removed ?? 0);
      if (removed > 0) logger.info({ removed, keepDays }, 'audit retention pruned events');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      logger.warn({ code: typeof code === 'string' ? code : undefined }, 'audit retention failed');
    }
  };
  const first = setTimeout(() => void run(), firstRunMs);
  const timer = setInterval(() => void run(), intervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
