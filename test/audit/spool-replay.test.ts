import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolOptions } from '../../audit/postgres-connection.ts';
import { verifyChain } from '../../audit/verify-chain.ts';
import { auditSchema } from '../../config/audit-schema.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard } from '../support/guard-harness.ts';
import { type GuardProcess, spawnGuard } from '../support/spawn-guard.ts';

let app: OcommsDouble;
let db: AuditDb;
const dirs: string[] = [];

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
});
afterAll(async () => {
  await app.close();
  db.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'guard-audit-'));
  dirs.push(dir);
  return dir;
}

function spooledIds(dataDir: string): string[] {
  const dir = join(dataDir, 'audit-spool');
  return readdirSync(dir)
    .filter((name) => name.startsWith('segment-'))
    .sort()
    .flatMap((name) => readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean))
    .map((line) => (JSON.parse(line) as { id: string }).id);
}

async function chainReport() {
  const config = auditSchema.parse(db.audit()).postgres;
  if (!config) throw new Error('no postgres section');
  const pool = new pg.Pool(poolOptions(config));
  try {
    return await verifyChain(pool, undefined);
  } finally {
    await pool.end();
  }
}

describe('spool replay', () => {
  it('ships what a stopped guard left in its spool when it starts again', async () => {
    const dataDir = freshDataDir();
    const before = db.count();
    db.pg.stop();
    const first = await startTestGuard(app.url, { dataDir, audit: db.audit() });
    for (let index = 0; index < 120; index += 1) {
      first.guard.runtime.events.emit({
        type: 'account.locked',
        outcome: 'info',
        details: { index },
      });
    }
    await first.close();
    expect(spooledIds(dataDir).length).toBe(122);
    db.pg.start();

    const second = await startTestGuard(app.url, { dataDir, audit: db.audit() });
    try {
      await waitFor(() => db.count() === before + 123, 'the spooled events and the new start');
      const ids = new Set(db.column('id'));
      for (const id of spooledIds(dataDir)) expect(ids.has(id)).toBe(true);
      expect((await chainReport()).problems).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('loses nothing that reached the spool when the guard is killed with SIGKILL', async () => {
    const dataDir = freshDataDir();
    let guard: GuardProcess = await spawnGuard(app.url, { dataDir, audit: db.audit() });
    const ca = readFileSync(join(dataDir, 'internal-ca/ca.crt'));
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const url = `https://localhost:${guard.ports.https}`;
    let answered = 0;
    const load = async () => {
      for (let index = 0; index < 200; index += 1) {
        try {
          const response = await request(`${url}/api/admin/audit-logs?n=${index}`, {
            dispatcher: agent,
          });
          await response.body.dump();
          answered += 1;
        } catch {
          return;
        }
      }
    };
    const workers = Array.from({ length: 4 }, load);
    await waitFor(() => answered >= 60, 'load under way');
    // With the database gone, what is killed is surely not shipped yet.
    db.pg.stop();
    await waitFor(() => answered >= 150, 'more load');
    guard.child.kill('SIGKILL');
    await Promise.all(workers);
    await guard.exited;
    await agent.close();
    const spooled = spooledIds(dataDir);
    // Events still in the buffer (at most flushMs old) die with the process.
    expect(spooled.length).toBeGreaterThan(0);

    db.pg.start();
    guard = await spawnGuard(app.url, { dataDir, audit: db.audit() });
    try {
      const quoted = spooled.map((id) => `'${id}'`).join(',');
      await waitFor(() => db.count(`id in (${quoted})`) === spooled.length, 'spool replayed');
      const total = Number(db.pg.psql('select count(*) from guard_audit_events'));
      const distinct = Number(db.pg.psql('select count(distinct id) from guard_audit_events'));
      expect(distinct).toBe(total);
      expect((await chainReport()).problems).toEqual([]);
    } finally {
      guard.child.kill('SIGTERM');
      await guard.exited;
    }
  });
});
