import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../common/log.ts';
import type { AuditPostgresConfig } from '../config/audit-schema.ts';
import type { AuditMetrics } from './audit-metrics.ts';
import type { AuditRecord } from './event-record.ts';
import { applyMigrations, latestSchemaVersion, schemaVersion } from './migrations.ts';
import { classifyDatabaseError, databaseTarget, poolOptions } from './postgres-connection.ts';
import { insertRecords, isDataError } from './postgres-sink.ts';
import type { Spool } from './spool.ts';

const minBackoffMs = 200;
const maxBackoffMs = 5000;
const idleWaitMs = 1000;

// Moves events from the spool to PostgreSQL, in order, one batch at a time.
// The cursor moves only after the batch is committed; a failure leaves it in
// place and the same batch is sent again, which the event id makes harmless.
export class Shipper {
  readonly #spool: Spool;
  readonly #config: AuditPostgresConfig;
  readonly #logger: Logger;
  readonly #metrics: AuditMetrics;
  readonly #spoolDir: string;
  readonly #pool: pg.Pool;
  #ready = false;
  #down = false;
  #stopping = false;
  #backoffMs = minBackoffMs;
  readonly #wakers = new Set<() => void>();
  #loop: Promise<void> | undefined;

  constructor(
    spool: Spool,
    config: AuditPostgresConfig,
    spoolDir: string,
    logger: Logger,
    metrics: AuditMetrics,
  ) {
    this.#spool = spool;
    this.#config = config;
    this.#spoolDir = spoolDir;
    this.#logger = logger;
    this.#metrics = metrics;
    this.#pool = new pg.Pool(poolOptions(config));
    // An idle client that loses its server must not crash the process.
    this.#pool.on('error', (error) => this.#markDown(error));
    spool.onFlush(() => this.#wakeAll());
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Ships what it can until the deadline, then closes the connections. */
  async stop(deadlineMs: number): Promise<void> {
    await this.#spool.flush();
    const deadline = Date.now() + deadlineMs;
    while (this.#ready && !this.#down && Date.now() < deadline && this.#spool.pendingEvents > 0) {
      await this.#wait(50);
    }
    this.#stopping = true;
    this.#wakeAll();
    await this.#loop;
    await this.#pool.end().catch(() => undefined);
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        if (!this.#ready) await this.#prepare();
        const shipped = await this.#shipOnce();
        this.#backoffMs = minBackoffMs;
        if (this.#down) this.#markUp();
        if (!shipped) await this.#wait(idleWaitMs);
      } catch (error) {
        this.#markDown(error);
        await this.#wait(this.#backoffMs);
        this.#backoffMs = Math.min(maxBackoffMs, this.#backoffMs * 2);
      }
    }
  }

  async #prepare(): Promise<void> {
    if (this.#config.migrate) {
      const result = await applyMigrations(this.#pool);
      if (result.applied.length > 0) {
        this.#logger.info({ applied: result.applied }, 'audit schema migrated');
      }
    } else {
      const version = await schemaVersion(this.#pool);
      if (version < latestSchemaVersion) {
        const error = new Error('audit schema is older than this guard');
        Object.assign(error, { code: '42P01' });
        throw error;
      }
    }
    this.#ready = true;
    this.#markUp();
  }

  async #shipOnce(): Promise<boolean> {
    const batch = await this.#spool.read(this.#config.batchEvents);
    if (batch.skipped > 0) {
      this.#logger.error({ skipped: batch.skipped }, 'audit spool line unreadable');
    }
    if (batch.records.length === 0) {
      if (batch.skipped > 0) await this.#spool.acknowledge(batch.next, batch.skipped);
      return batch.skipped > 0;
    }
    let inserted: number;
    try {
      inserted = await insertRecords(this.#pool, batch.records);
    } catch (error) {
      if (!isDataError(error)) throw error;
      inserted = await this.#shipOneByOne(batch.records);
    }
    await this.#spool.acknowledge(batch.next, batch.records.length + batch.skipped);
    this.#metrics.shipped.inc(inserted);
    return true;
  }

  // A value the database will not store must not hold back the events
  // around it: those go in, the refused one is set aside beside the spool.
  async #shipOneByOne(records: AuditRecord[]): Promise<number> {
    let inserted = 0;
    for (const record of records) {
      try {
        inserted += await insertRecords(this.#pool, [record]);
      } catch (error) {
        if (!isDataError(error)) throw error;
        const code = (error as { code?: string }).code;
        await appendFile(join(this.#spoolDir, 'rejected.jsonl'), `${JSON.stringify(record)}\n`);
        this.#metrics.rejected.inc();
        this.#logger.error({ eventId: record.id, code }, 'audit event refused by the database');
      }
    }
    return inserted;
  }

  #markDown(error: unknown): void {
    const reason = classifyDatabaseError(error);
    this.#metrics.shipFailures.inc({ reason });
    this.#metrics.databaseUp.set(0);
    if (reason === 'schema' || reason === 'tls' || reason === 'auth') this.#ready = false;
    if (this.#down) return;
    this.#down = true;
    const target = databaseTarget(this.#config);
    const code = (error as { code?: unknown }).code;
    this.#logger.warn(
      { reason, code: typeof code === 'string' ? code : undefined, host: target.host },
      'audit database unavailable: events wait in the spool',
    );
  }

  #markUp(): void {
    this.#metrics.databaseUp.set(1);
    if (!this.#down) return;
    this.#down = false;
    this.#logger.info({ pendingEvents: this.#spool.pendingEvents }, 'audit database available');
  }

  get pool(): pg.Pool {
    return this.#pool;
  }

  #wakeAll(): void {
    for (const wake of this.#wakers) wake();
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }
}
