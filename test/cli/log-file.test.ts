import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type GuardProcess, spawnGuard } from '../support/spawn-guard.ts';

let app: OcommsDouble | undefined;
let guard: GuardProcess | undefined;
const dirs: string[] = [];

afterEach(async () => {
  guard?.child.kill('SIGKILL');
  if (guard) rmSync(guard.dataDir, { recursive: true, force: true });
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  await app?.close();
});

function linesOf(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('logging to a file', () => {
  it('writes every access line soon after the request and the rest on exit', async () => {
    app = await startOcommsDouble();
    const dir = mkdtempSync(join(tmpdir(), 'guard-log-'));
    dirs.push(dir);
    const file = join(dir, 'guard.log');
    guard = await spawnGuard(app.url, {}, { stdoutFile: file });
    const ca = readFileSync(join(guard.dataDir, 'internal-ca/ca.crt'));
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const url = `https://localhost:${guard.ports.https}`;

    const response = await request(`${url}/api/health`, { dispatcher: agent });
    await response.body.dump();
    const accessLines = () => linesOf(file).filter((line) => line.msg === 'request');
    // A lone line waits in the buffer for the periodic flush, not for more lines.
    await waitFor(() => accessLines().length === 1, 5000);
    expect(accessLines()[0]).toMatchObject({ path: '/api/health', status: 200 });
    expect(Date.parse(String(accessLines()[0]?.time))).toBeGreaterThan(Date.now() - 60_000);

    for (let index = 0; index < 20; index += 1) {
      const next = await request(`${url}/api/health?n=${index}`, { dispatcher: agent });
      await next.body.dump();
    }
    guard.child.kill('SIGTERM');
    expect(await guard.exited).toBe(0);
    await agent.close();

    const lines = linesOf(file);
    expect(lines.filter((line) => line.msg === 'request')).toHaveLength(21);
    expect(lines.at(-1)).toMatchObject({ msg: 'guard stopped', outcome: 'drained' });
  });
});
