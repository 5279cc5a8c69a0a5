import pg from 'pg';
import { pseudonym } from '../audit/event-record.ts';
import { applyMigrations } from '../audit/migrations.ts';
import {
  classifyDatabaseError,
  databaseTarget,
  poolOptions,
} from '../audit/postgres-connection.ts';
import {
  type EventFilter,
  formatEvent,
  queryEvents,
  type StoredEvent,
} from '../audit/stored-events.ts';
import { verifyChain } from '../audit/verify-chain.ts';
import { GuardError } from '../common/errors.ts';
import type { Config } from '../config/schema.ts';

export type AuditOptions = {
  type?: string | undefined;
  actor?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
  follow?: boolean | undefined;
  json?: boolean | undefined;
};

export const auditCommands = ['migrate', 'verify', 'tail', 'search'] as const;

const followPollMs = 1000;

// `ocomms-guard audit ...`: the operator's view of the trail, through the
// same verified TLS connection the guard uses.
export async function runAuditCommand(
  command: string,
  config: Config,
  options: AuditOptions,
): Promise<number> {
  const postgres = config.audit.postgres;
  if (!postgres) {
    throw new GuardError('GUARD_ERR_AUDIT_NOT_CONFIGURED', 'audit.postgres is not configured');
  }
  if (postgres.tls.mode !== 'verify-full') {
    process.stderr.write(
      `warning: the audit database is reached with tls mode "${postgres.tls.mode}" ` +
        '(insecure setting): the server is not verified\n',
    );
  }
  const pool = new pg.Pool({ ...poolOptions(postgres), max: 1 });
  pool.on('error', () => undefined);
  try {
    return await dispatch(command, pool, config, options);
  } catch (error) {
    if (error instanceof GuardError) throw error;
    const reason = classifyDatabaseError(error);
    const code = (error as { code?: unknown }).code;
    const target = databaseTarget(postgres);
    const where = `${target.host}:${target.port}/${target.database}`;
    const detail = typeof code === 'string' ? `, ${code}` : '';
    throw new GuardError(
      'GUARD_ERR_AUDIT_DATABASE',
      `cannot use the audit database ${where} (${reason}${detail})`,
    );
  } finally {
    await pool.end().catch(() => undefined);
  }
}

async function dispatch(
  command: string,
  pool: pg.Pool,
  config: Config,
  options: AuditOptions,
): Promise<number> {
  if (command === 'migrate') {
    const result = await applyMigrations(pool);
    const applied = result.applied.length ? `applied ${result.applied.join(', ')}` : 'up to date';
    process.stdout.write(`audit schema at version ${result.version} (${applied})\n`);
    return 0;
  }
  if (command === 'verify') {
    const report = await verifyChain(pool, config.audit.chainKey);
    for (const problem of report.problems) {
      process.stdout.write(
        `${problem.kind}: event ${problem.eventId} (stream ${problem.stream}, seq ` +
          `${problem.seq}): ${problem.message}\n`,
      );
    }
    if (report.problems.length > 0) {
      throw new GuardError(
        'GUARD_ERR_AUDIT_CHAIN_BROKEN',
        `${report.problems.length} stream(s) of ${report.streams} broken`,
      );
    }
    process.stdout.write(`ok: ${report.events} events in ${report.streams} stream(s)\n`);
    return 0;
  }
  const filter = buildFilter(command, config, options);
  const print = (events: StoredEvent[]) => {
    const lines = events.map((event) =>
      options.json ? JSON.stringify(withoutRowNo(event)) : formatEvent(event),
    );
    if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
  };
  let events = await queryEvents(pool, filter);
  print(events);
  if (command !== 'tail' || !options.follow) return 0;

  let afterRow = events.at(-1)?.rowNo ?? 0;
  let stopped = false;
  process.once('SIGINT', () => {
    stopped = true;
  });
  while (!stopped) {
    await new Promise((resolve) => setTimeout(resolve, followPollMs));
    events = await queryEvents(pool, { ...filter, newest: false, afterRow, limit: 1000 });
    print(events);
    afterRow = events.at(-1)?.rowNo ?? afterRow;
  }
  return 0;
}

function buildFilter(command: string, config: Config, options: AuditOptions): EventFilter {
  const limit =
    options.limit === undefined ? (command === 'tail' ? 20 : 1000) : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
    throw new GuardError('GUARD_ERR_CONFIG_INVALID', '--limit must be a whole number, 1 to 100000');
  }
  const filter: EventFilter = { type: options.type, limit, newest: command === 'tail' };
  if (options.actor) {
    const actor = options.actor;
    const key = config.audit.identityKey;
    filter.actors = [actor, actor.toLowerCase()];
    if (key) filter.actors.push(pseudonym(key, actor));
  }
  if (command === 'search') {
    if (!options.since) {
      throw new GuardError(
        'GUARD_ERR_CONFIG_INVALID',
        'search needs --since (ISO time or 15m, 2h, 7d)',
      );
    }
    filter.since = parseTime(options.since, '--since');
    if (options.until) filter.until = parseTime(options.until, '--until');
  }
  return filter;
}

/** An ISO 8601 time, or a duration back from now: 30s, 15m, 2h, 7d. */
export function parseTime(text: string, flag: string, now = Date.now()): Date {
  const relative = /^(\d+)([smhd])$/.exec(text.trim());
  if (relative) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit * 1000);
  }
  const time = Date.parse(text);
  if (Number.isNaN(time)) {
    throw new GuardError(
      'GUARD_ERR_CONFIG_INVALID',
      `${flag}: expected an ISO time or 15m, 2h, 7d`,
    );
  }
  return new Date(time);
}

function withoutRowNo(event: StoredEvent): Omit<StoredEvent, 'rowNo'> {
  const { rowNo: _rowNo, ...rest } = event;
  return rest;
}
