import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isCatalogued } from '../../audit/catalogue.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type AuditDb, startAuditDb, waitFor } from '../support/audit-db.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff, send } from '../support/policy-requests.ts';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'guard-edge-audit-'));
let app: OcommsDouble;
let db: AuditDb;
let guard: TestGuard;
let configPath: string;

const report = {
  'csp-report': {
    'document-uri': 'https://localhost/acme/general?invite=secret-invite',
    'effective-directive': 'img-src',
    'blocked-uri': 'https://tracker.example/pixel.gif?uid=secret-uid',
    disposition: 'enforce',
  },
};

beforeAll(async () => {
  app = await startOcommsDouble();
  db = await startAuditDb();
  configPath = join(dir, 'audit.yaml');
  writeFileSync(configPath, stringify({ upstream: { url: app.url }, audit: db.audit() }));
  guard = await startTestGuard(app.url, {
    audit: db.audit(),
    rateLimits: presetLimitsOff(),
    cspReports: { enabled: true },
    adminAccess: { allow: ['10.0.0.0/8'] },
  });
}, 90_000);
afterAll(async () => {
  await guard.close();
  await app.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function tail(...args: string[]) {
  const cli = [cliPath, 'audit', 'tail', '--config', configPath, ...args];
  const { stdout } = await run(process.execPath, cli, { cwd: repoRoot });
  return stdout;
}

describe('edge policy events in the audit trail', () => {
  it('are in the catalogue', () => {
    for (const type of ['csp.violation', 'admin.network_denied', 'origin.denied']) {
      expect(isCatalogued(type)).toBe(true);
    }
  });

  it('shows CSP reports with `audit tail --type csp.violation`, without their queries', async () => {
    const headers = { 'content-type': 'application/csp-report' };
    const body = JSON.stringify(report);
    expect((await send(guard, '/_guard/csp-report', { body, headers })).status).toBe(204);
    expect((await send(guard, '/api/admin/audit-logs')).status).toBe(403);
    expect(
      (await send(guard, '/api/echo', { body: '{}', headers: { origin: 'https://evil.example' } }))
        .status,
    ).toBe(403);
    await waitFor(() => db.count("type = 'csp.violation'") === 1, 'the report stored');
    await waitFor(() => db.count("type = 'origin.denied'") === 1, 'the refusal stored');

    const lines = (await tail('--type', 'csp.violation', '--json')).trim().split('\n');
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0] ?? '{}');
    expect(event.type).toBe('csp.violation');
    expect(event.details).toMatchObject({
      directive: 'img-src',
      blockedUri: 'https://tracker.example/pixel.gif',
      page: '/acme/general',
    });
    expect(await tail('--type', 'admin.network_denied')).toContain('admin.network_denied');
    const all = db.column('details::text').join('\n');
    expect(all).not.toContain('secret-');
  });
});
