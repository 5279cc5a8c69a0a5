import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { cliPath, type GuardProcess, repoRoot, spawnGuard } from '../support/spawn-guard.ts';

// The three ways an operator reloads the running command: SIGHUP,
// `ocomms-guard reload`, and (when enabled) saving the file.

const run = promisify(execFile);
let app: OcommsDouble | undefined;
let guard: GuardProcess | undefined;
let agent: Agent | undefined;

afterEach(async () => {
  guard?.child.kill('SIGKILL');
  if (guard) rmSync(guard.dataDir, { recursive: true, force: true });
  await agent?.close();
  await app?.close();
  guard = undefined;
  agent = undefined;
  app = undefined;
});

const listen = { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' };

async function start(extra: Record<string, unknown> = {}) {
  app = await startOcommsDouble();
  const started = await spawnGuard(app.url, { headers: { xFrameOptions: 'DENY' }, ...extra });
  guard = started;
  const ca = readFileSync(join(started.dataDir, 'internal-ca/ca.crt'));
  agent = new Agent({ connect: { ca, servername: 'localhost' } });
  const configFile = join(started.dataDir, 'config.yaml');
  const write = (changes: Record<string, unknown>) => {
    const document = { upstream: { url: app?.url }, dataDir: started.dataDir, listen, ...extra };
    writeFileSync(configFile, stringify({ ...document, ...changes }));
  };
  return { started, configFile, write };
}

async function frameOptions(): Promise<unknown> {
  const url = `https://localhost:${guard?.ports.https}/api/health`;
  const response = await request(url, { dispatcher: agent });
  await response.body.text();
  return response.headers['x-frame-options'];
}

async function pollFor(read: () => Promise<unknown>, expected: unknown, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function events(type: string) {
  return (guard?.output() ?? '')
    .split('\n')
    .filter((line) => line.includes(`"type":"${type}"`))
    .map((line) => (JSON.parse(line) as { event: Record<string, unknown> }).event);
}

// Log lines are written in batches, so an event shows up a moment later.
async function eventsOnceThere(type: string, count = 1) {
  await pollFor(() => Promise.resolve(events(type).length >= count), true);
  return events(type);
}

describe('reloading the running guard', () => {
  it('reloads the whole configuration on SIGHUP', async () => {
    const { started, write } = await start();
    write({ headers: { xFrameOptions: 'SAMEORIGIN' } });

    started.child.kill('SIGHUP');

    expect(await pollFor(frameOptions, 'SAMEORIGIN')).toBe('SAMEORIGIN');
    expect((await eventsOnceThere('config.reloaded'))[0]).toMatchObject({
      outcome: 'success',
      details: { channel: 'signal', requestedBy: 'SIGHUP', changed: 'headers' },
    });
  });

  it('reload command applies a valid file and prints the errors of an invalid one', async () => {
    const { configFile, write } = await start();
    write({ headers: { xFrameOptions: 'SAMEORIGIN' } });

    const applied = await cli(['reload', '--config', configFile]);

    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('reloaded; changed: headers');
    expect(await frameOptions()).toBe('SAMEORIGIN');

    write({ headers: { xFrameOptions: 'SAMEORIGIN' }, upstream: { url: 'ftp://nope' } });
    const refused = await cli(['reload', '--config', configFile]);
    const checked = await cli(['check', '--config', configFile]);

    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(checked.stderr.trim());
    expect(refused.stderr).toContain('reload refused: GUARD_ERR_CONFIG_INVALID');
    expect(await frameOptions()).toBe('SAMEORIGIN');
    expect((await eventsOnceThere('config.reload_failed'))[0]).toMatchObject({
      outcome: 'failure',
      clientIp: '127.0.0.1',
      details: { channel: 'admin', code: 'GUARD_ERR_CONFIG_INVALID', errors: 1 },
    });
    expect(events('config.reloaded')[0]).toMatchObject({
      details: { requestedBy: expect.stringMatching(/ \(cli\)$/) },
    });
  }, 60_000);

  it('turns away a reload request without the admin token, and audits it', async () => {
    const { started } = await start();
    const accessFile = join(started.dataDir, 'admin-access.json');
    expect(statSync(accessFile).mode & 0o777).toBe(0o600);
    const adminUrl = `http://127.0.0.1:${started.ports.admin}`;

    const bare = await fetch(`${adminUrl}/reload`, { method: 'POST' });
    const wrong = await fetch(`${adminUrl}/reload`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token' },
    });

    expect(bare.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: 'GUARD_ERR_ADMIN_DENIED' });
    expect(await eventsOnceThere('config.reload_failed', 2)).toHaveLength(2);
    expect(events('config.reload_failed')[1]).toMatchObject({
      details: { channel: 'admin', code: 'GUARD_ERR_ADMIN_DENIED' },
    });
    expect(events('config.reloaded')).toHaveLength(0);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).toContain('guard_config_reloads_total{channel="admin",outcome="refused"} 2');
  });

  it('reloads when the file changes on disk, if asked to, and refuses a broken save', async () => {
    const watching = { reload: { watch: true, watchIntervalMs: 200 } };
    const { write } = await start(watching);
    write({ headers: { xFrameOptions: 'SAMEORIGIN' } });

    expect(await pollFor(frameOptions, 'SAMEORIGIN')).toBe('SAMEORIGIN');
    write({ headers: { xFrameOptions: 'SAMEORIGIN', bogus: true } });
    expect((await eventsOnceThere('config.reload_failed'))[0]).toMatchObject({
      details: { channel: 'file-watch', code: 'GUARD_ERR_CONFIG_INVALID' },
    });
    expect(await frameOptions()).toBe('SAMEORIGIN');
  });
});
