import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRecord } from '../../audit/event-record.ts';
import { chainRecord } from '../../audit/hash-chain.ts';
import { Spool } from '../../audit/spool.ts';
import { startTestGuard } from '../support/guard-harness.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'guard-spool-'));
  dirs.push(dir);
  return dir;
}

function fill(spool: Spool, count: number): void {
  for (let index = 0; index < count; index += 1) {
    const record = buildRecord(
      { type: 'rate.limited', outcome: 'denied', details: { index } },
      { mode: 'plain' },
    );
    spool.append(chainRecord(record, spool.head, undefined));
  }
}

describe('audit spool', () => {
  it('after a crash, cuts the half-written line and resumes the chain', async () => {
    const dir = freshDir();
    const spool = Spool.open({ dir, maxBytes: 1 << 20, flushMs: 5 });
    fill(spool, 3);
    await spool.flush();
    const head = spool.head;
    const segment = readdirSync(dir).find((name) => name.startsWith('segment-')) ?? '';
    appendFileSync(join(dir, segment), '{"version":1,"id":"half-writ');

    const reopened = Spool.open({ dir, maxBytes: 1 << 20, flushMs: 5 });
    expect(reopened.head).toEqual(head);
    expect(reopened.pendingEvents).toBe(3);
    expect(readFileSync(join(dir, segment), 'utf8').endsWith('}\n')).toBe(true);
    fill(reopened, 1);
    expect(reopened.head.seq).toBe(4);
    expect(reopened.head.stream).toBe(head.stream);
  });

  it('reads in order across segments and deletes those shipped', async () => {
    const dir = freshDir();
    const spool = Spool.open({ dir, maxBytes: 1 << 20, flushMs: 5, segmentBytes: 2000 });
    for (let round = 0; round < 5; round += 1) {
      fill(spool, 10);
      await spool.flush();
    }
    expect(readdirSync(dir).filter((name) => name.startsWith('segment-')).length).toBeGreaterThan(
      2,
    );
    const seqs: number[] = [];
    for (;;) {
      const batch = await spool.read(7);
      if (batch.records.length === 0) break;
      seqs.push(...batch.records.map((record) => record.seq));
      await spool.acknowledge(batch.next, batch.records.length);
    }
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, index) => index + 1));
    expect(spool.pendingEvents).toBe(0);
    expect(spool.pendingBytes).toBe(0);
    expect(readdirSync(dir).filter((name) => name.startsWith('segment-'))).toHaveLength(1);
  });

  it('is bounded: once full, events are logged and counted, not spooled', async () => {
    // Nothing listens on port 9 of localhost: the database stays away.
    const guard = await startTestGuard('http://127.0.0.1:9', {
      audit: {
        spool: { maxBytes: 8192, warnBytes: 2048, flushMs: 5 },
        postgres: { url: 'postgres://guard@localhost:9/audit' },
      },
    });
    try {
      for (let index = 0; index < 60; index += 1) {
        guard.guard.runtime.events.emit({
          type: 'rate.limited',
          outcome: 'denied',
          details: { index },
        });
      }
      const full = guard.logs.filter(
        (line) => line.msg === 'audit spool full: events are only logged',
      );
      expect(full).toHaveLength(1);
      expect(guard.logs.filter((line) => line.msg === 'audit spool growing')).toHaveLength(1);
      const logged = guard.logs.filter((line) => line.msg === 'security event');
      expect(logged.length).toBe(61);
      const metrics = await (await request(`${guard.adminUrl}/metrics`)).body.text();
      const dropped = /^guard_audit_events_dropped_total (\d+)/m.exec(metrics)?.[1];
      expect(Number(dropped)).toBe(logged.filter((line) => line.spooled === false).length);
      expect(Number(dropped)).toBeGreaterThan(0);
    } finally {
      await guard.close();
    }
  });
});
