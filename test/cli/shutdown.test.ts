import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { type GuardProcess, spawnGuard } from '../support/spawn-guard.ts';

let app: OcommsDouble | undefined;
let guard: GuardProcess | undefined;

afterEach(async () => {
  guard?.child.kill('SIGKILL');
  if (guard) rmSync(guard.dataDir, { recursive: true, force: true });
  await app?.close();
});

const waitLong = { timeout: 10_000, interval: 20 };

// Waits until the app has seen a request for the path, so that it is in flight.
async function untilForwarded(path: string): Promise<void> {
  const seen = () => app?.requests.some((entry) => entry.url.startsWith(path)) ?? false;
  await expect.poll(seen, waitLong).toBe(true);
}

describe('stopping', () => {
  it('on SIGTERM finishes in-flight requests, refuses new ones and exits 0', async () => {
    app = await startOcommsDouble();
    guard = await spawnGuard(app.url);
    const ca = readFileSync(join(guard.dataDir, 'internal-ca/ca.crt'));
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const url = `https://localhost:${guard.ports.https}`;

    const inFlight = request(`${url}/api/slow?ms=800`, { dispatcher: agent });
    await untilForwarded('/api/slow');
    const running = guard;
    running.child.kill('SIGTERM');
    // The line is written just before the listeners stop accepting.
    await expect.poll(() => running.output().includes('"msg":"stopping"'), waitLong).toBe(true);

    const fresh = new Agent({ connect: { ca, servername: 'localhost' } });
    await expect(request(`${url}/api/health`, { dispatcher: fresh })).rejects.toThrow();
    const response = await inFlight;
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toEqual({ delayedMs: 800 });

    expect(await guard.exited).toBe(0);
    expect(guard.output()).toContain('"outcome":"drained"');
    await agent.close();
    await fresh.close();
  });

  it('on SIGINT with a stuck request exits 0 once the deadline passes', async () => {
    app = await startOcommsDouble();
    guard = await spawnGuard(app.url, { limits: { shutdownTimeoutMs: 500 } });
    const ca = readFileSync(join(guard.dataDir, 'internal-ca/ca.crt'));
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const stuck = request(`https://localhost:${guard.ports.https}/api/slow?ms=20000`, {
      dispatcher: agent,
    }).catch((error: Error) => error);
    await untilForwarded('/api/slow');
    const started = Date.now();
    guard.child.kill('SIGINT');
    expect(await guard.exited).toBe(0);
    // Far below the 20 s the request would take, with room for a busy machine.
    expect(Date.now() - started).toBeLessThan(8000);
    expect(guard.output()).toContain('"outcome":"forced"');
    expect(await stuck).toBeInstanceOf(Error);
    await agent.close();
  });
});
