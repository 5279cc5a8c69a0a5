import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashRecord } from '../../audit/hash-chain.ts';
import { poolOptions } from '../../audit/postgres-connection.ts';
import { queryStream } from '../../audit/stored-events.ts';
import { auditSchema } from '../../config/audit-schema.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard } from '../support/guard-harness.ts';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'guard-audit-cli-'));
let app: OcommsDouble;
let db: AuditDb;
let configPath: string;

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function readStream(afterSeq: number, limit: number) {
  const config = auditSchema.parse(db.audit()).postgres;
  if (!config) throw new Error('no postgres section');
  const pool = new pg.Pool(poolOptions(config));
  try {
    const stream = db.column('stream', 'seq = 1')[0] ?? '';
    return await queryStream(pool, stream, afterSeq, limit);
  } finally {
    await pool.end();
  }
}

const audit = (command: string, ...args: string[]) =>
  cli(['audit', command, '--config', configPath, ...args]);

// Puts the table back as the guard wrote it before each tampering.
function restore(): void {
  db.pg.psql(
    'delete from guard_audit_events; ' +
      'insert into guard_audit_events overriding system value select * from pristine',
  );
}

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  configPath = join(dir, 'audit.yaml');
  writeFileSync(configPath, stringify({ upstream: { url: app.url }, audit: db.audit() }));
  const guard = await startTestGuard(app.url, { audit: db.audit() });
  const events = guard.guard.runtime.events;
  for (let index = 0; index < 40; index += 1) {
    events.emit({
      type: index % 2 ? 'login.failed' : 'rate.limited',
      outcome: index % 2 ? 'failure' : 'denied',
      actor: { account: index % 4 === 1 ? 'Eve@Example.com' : 'bob@example.com' },
      clientIp: '198.51.100.4',
      details: { index },
    });
  }
  // A NUL byte and an oversize user agent travel in the same batch as the rest.
  events.emit({
    type: 'login.failed',
    outcome: 'failure',
    actor: { account: 'nul\u0000byte@example.com' },
    userAgent: 'x'.repeat(100_000),
    details: { index: 40, note: 'bad\u0000value' },
  });
  await waitFor(() => db.count() === 42, 'all events stored');
  await guard.close();
  await waitFor(() => db.count() === 43, 'the stop event stored');
  db.pg.psql('create table pristine as select * from guard_audit_events');
}, 90_000);

afterAll(async () => {
  await app.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ocomms-guard audit', () => {
  it('stores a NUL byte and an oversize value without losing the batch', () => {
    expect(db.column('actor_account', "details->>'index' = '40'")).toEqual([
      'nul\uFFFDbyte@example.com',
    ]);
    expect(db.column('length(user_agent)', "details->>'index' = '40'")).toEqual(['512']);
  });

  it('migrate is idempotent', async () => {
    const result = await audit('migrate');
    expect(result.stdout).toContain('audit schema at version 1 (up to date)');
    expect(result.code).toBe(0);
  });

  it('verify passes on the trail as written', async () => {
    restore();
    const result = await audit('verify');
    expect(result.stdout).toContain('ok: 43 events in 1 stream(s)');
    expect(result.code).toBe(0);
  });

  it('verify names an event changed with psql', async () => {
    restore();
    const id = db.column('id', 'seq = 10')[0];
    db.pg.psql(
      "update guard_audit_events set actor_account = 'mallory@example.com' where seq = 10",
    );
    const result = await audit('verify');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`altered: event ${id}`);
    expect(result.stderr).toContain('GUARD_ERR_AUDIT_CHAIN_BROKEN');
  });

  it('verify names the gap a deleted event leaves', async () => {
    restore();
    const after = db.column('id', 'seq = 21')[0];
    db.pg.psql('delete from guard_audit_events where seq = 20');
    const result = await audit('verify');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`removed: event ${after}`);
    expect(result.stdout).toContain('1 event(s) before seq 21 are missing');
  });

  it('verify names an event replaced by one with a recomputed hash', async () => {
    restore();
    const [forged] = await readStream(24, 1);
    if (!forged) throw new Error('no event at seq 25');
    const next = db.column('id', 'seq = 26')[0];
    // A forger who knows the (unkeyed) hash rule rewrites seq 25 consistently:
    // the row checks out on its own, but the next one no longer links to it.
    const { rowNo: _rowNo, hash: _hash, ...content } = forged;
    const hash = hashRecord({ ...content, outcome: 'success' }, undefined);
    db.pg.psql(
      `update guard_audit_events set outcome = 'success', hash = '${hash}' where seq = 25`,
    );
    const result = await audit('verify');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`inserted: event ${next}`);
    expect(result.stdout).toContain('does not link to seq 25');
  });

  it('a keyed chain cannot be recomputed without the key', () => {
    const record = {
      version: 1,
      id: 'a',
      stream: 'b',
      seq: 1,
      time: '2026-01-01T00:00:00.000Z',
      type: 'logout',
      outcome: 'info',
      account: null,
      userId: null,
      clientIp: null,
      userAgent: null,
      requestId: null,
      route: null,
      method: null,
      path: null,
      status: null,
      details: {},
      prevHash: '0'.repeat(64),
    };
    const key = 'k'.repeat(32);
    expect(hashRecord(record, key)).not.toBe(hashRecord(record, undefined));
    expect(hashRecord(record, key)).toBe(hashRecord({ ...record }, key));
    expect(hashRecord(record, key)).not.toBe(hashRecord(record, 'j'.repeat(32)));
  });

  it('tail prints the newest events, filtered by type and actor, readable or JSON', async () => {
    restore();
    const tail = await audit('tail', '--type', 'login.failed', '--limit', '3');
    expect(tail.code).toBe(0);
    const lines = tail.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toContain('login.failed');
    expect(lines[2]).toContain('index=40');

    const eve = await audit('tail', '--actor', 'eve@example.com', '--json', '--limit', '100');
    const events = eve.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { account: string; type: string });
    expect(events).toHaveLength(10);
    for (const event of events) expect(event.account).toBe('eve@example.com');
  });

  it('tail --follow prints new events as they arrive', async () => {
    restore();
    const args = ['audit', 'tail', '--config', configPath, '--follow', '--json'];
    const child = spawn(process.execPath, [cliPath, ...args, '--type', 'guard.started'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lines = () => output.split('\n').filter(Boolean);
    try {
      await waitFor(() => lines().length === 1, 'the existing start event');
      const guard = await startTestGuard(app.url, { audit: db.audit() });
      await guard.close();
      await waitFor(() => lines().length === 2, 'the new start event');
      const types = lines().map((line) => (JSON.parse(line) as { type: string }).type);
      expect(types).toEqual(['guard.started', 'guard.started']);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('search finds events in a time range', async () => {
    restore();
    const recent = await audit('search', '--since', '1h', '--type', 'rate.limited', '--json');
    expect(recent.stdout.trim().split('\n')).toHaveLength(20);
    const future = await audit('search', '--since', '2999-01-01T00:00:00Z');
    expect(future.stdout).toBe('');
    const missing = await audit('search');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--since');
  });
});
