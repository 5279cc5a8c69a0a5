import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';
import { cliPath, type GuardProcess, repoRoot, spawnGuard } from '../support/spawn-guard.ts';
import { waitFor } from '../support/wait-for.ts';

const run = promisify(execFile);
let fixture: AcmeFixture | undefined;
let spawned: GuardProcess | undefined;
afterEach(async () => {
  spawned?.child.kill('SIGTERM');
  await spawned?.exited;
  spawned = undefined;
  await fixture?.close();
  fixture = undefined;
});

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('ocomms-guard certs', { timeout: 120_000 }, () => {
  it('lists the certificates and renews them on demand in the running guard', async () => {
    fixture = await startAcmeFixture();
    const first = await fixture.startGuard();
    await fixture.waitReady(first);
    await first.close();

    const { pebble, dataDir } = fixture;
    const ports = fixture.ports();
    spawned = await spawnGuard(fixture.upstreamUrl, {
      dataDir,
      listen: {
        https: `127.0.0.1:${ports.https}`,
        http: `127.0.0.1:${ports.http}`,
        admin: '127.0.0.1:0',
      },
      tls: {
        mode: 'acme',
        domains: ['guard.test'],
        acme: {
          directoryUrl: pebble.directoryUrl,
          caBundle: pebble.caBundlePath,
          acceptTermsOfService: true,
        },
      },
    });
    const configPath = join(spawned.dataDir, 'config.yaml');
    const list = await cli(['certs', 'list', '--config', configPath]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /^NAMES\s+ISSUER\s+NOT AFTER\s+RENEWAL\s+NEXT ATTEMPT\s+LAST ERROR/,
    );
    expect(list.stdout).toMatch(/guard\.test\s+Pebble Intermediate CA \w+\s+\d{4}-/);
    const notAfter = /\s(\d{4}-\d\d-\d\dT[\d:.]+Z)\s/.exec(list.stdout)?.[1];

    // The CLI finds the admin listener through the configuration: name the
    // port the running guard got.
    const adminConfig = join(spawned.dataDir, 'admin.yaml');
    const text = readFileSync(configPath, 'utf8');
    const admin = `admin: 127.0.0.1:${spawned.ports.admin}`;
    writeFileSync(adminConfig, text.replace(/admin: 127\.0\.0\.1:0/, admin));
    const due = await cli(['certs', 'renew', '--config', adminConfig]);
    expect(due.code).toBe(0);
    expect(fixture.pebble.ordersCreated()).toBe(1);

    const forced = await cli(['certs', 'renew', '--force', '--config', adminConfig]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('guard.test');
    expect(fixture.pebble.ordersCreated()).toBe(2);
    const output = () => spawned?.output() ?? '';
    await waitFor(() => output().includes('"type":"certificate.renewed"'), 60_000);
    const after = await cli(['certs', 'list', '--config', configPath]);
    expect(after.stdout).not.toContain(notAfter ?? 'none');
  });

  it('says when the guard is not in acme mode or not reachable', async () => {
    const list = await cli(['certs', 'list', '--config', join(repoRoot, 'config.example.yaml')]);
    expect(list.code).toBe(1);
    expect(list.stderr).toContain('not "acme"');
    const dir = mkdtempSync(join(tmpdir(), 'guard-certs-'));
    const file = join(dir, 'config.yaml');
    const acme = 'acme: { acceptTermsOfService: true }';
    const config = `upstream: { url: "http://127.0.0.1:3000" }\ndataDir: ${dir}\n`;
    writeFileSync(
      file,
      `${config}listen: { admin: "127.0.0.1:1" }\ntls: { mode: acme, ${acme} }\n`,
    );
    const unreachable = await cli(['certs', 'renew', '--config', file]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('GUARD_ERR_ACME_ADMIN: guard not reachable');
    const empty = await cli(['certs', 'list', '--config', file]);
    expect(empty.stdout).toMatch(/\nlocalhost\s+-\s+-\s+-\s+-\s+-\n/);
    rmSync(dir, { recursive: true, force: true });
    const usage = await cli(['certs', 'frobnicate', '--config', 'x.yaml']);
    expect(usage.code).toBe(2);
  });
});
