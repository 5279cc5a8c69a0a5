import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from '../double/ocomms-double.ts';
import { presetLimitsOff } from '../support/policy-requests.ts';
import { startTestRedis } from '../support/redis-server.ts';
import { cliPath, type GuardProcess, repoRoot, spawnGuard } from '../support/spawn-guard.ts';

const run = promisify(execFile);
let app: OcommsDouble | undefined;
let guard: GuardProcess | undefined;
let agent: Agent | undefined;

afterEach(async () => {
  await agent?.close();
  agent = undefined;
  guard?.child.kill('SIGKILL');
  if (guard) rmSync(guard.dataDir, { recursive: true, force: true });
  guard = undefined;
  await app?.close();
  app = undefined;
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

describe('ocomms-guard lockout', () => {
  it('lists the locks of the running guard and unlocks an account', async () => {
    app = await startOcommsDouble();
    guard = await spawnGuard(app.url, { rateLimits: presetLimitsOff() });
    const ca = readFileSync(join(guard.dataDir, 'internal-ca/ca.crt'));
    const client = new Agent({ connect: { ca, servername: 'localhost' } });
    agent = client;
    const url = `https://localhost:${guard.ports.https}`;
    const signIn = async (password: string) => {
      const response = await request(`${url}/api/auth/sign-in/email`, {
        dispatcher: client,
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: url },
        body: JSON.stringify({ email: 'alice@example.com', password }),
      });
      await response.body.dump();
      return response.statusCode;
    };
    for (let i = 0; i < 5; i += 1) expect(await signIn(`wrong-${i}`)).toBe(401);
    expect(await signIn(SEEDED_PASSWORD)).toBe(429);

    const config = join(guard.dataDir, 'config.yaml');
    const listed = await cli(['lockout', 'list', '--config', config]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/alice@example\.com {2}account {2}- {2}\d{4}-/);
    expect(listed.stdout).toMatch(/alice@example\.com {2}address {2}127\.0\.0\.1/);

    const unlocked = await cli(['lockout', 'unlock', ' Alice@Example.com', '--config', config]);
    expect(unlocked).toMatchObject({ code: 0 });
    expect(unlocked.stdout).toContain('unlocked alice@example.com: 2 lock(s) cleared');
    expect(await signIn(SEEDED_PASSWORD)).toBe(200);
    expect((await cli(['lockout', 'list', '--config', config])).stdout).toBe('no locks in force\n');
    // Log lines are written in batches: wait for the event rather than a fixed time.
    const running = guard;
    await expect
      .poll(() => running.output(), { timeout: 5000 })
      .toMatch(/"type":"account\.unlocked".*"account":"admin-listener:cli:/);
  });

  it('refuses admin actions without the token', async () => {
    app = await startOcommsDouble();
    guard = await spawnGuard(app.url);
    const base = `http://127.0.0.1:${guard.ports.admin}`;
    const listed = await request(`${base}/lockout`);
    expect(listed.statusCode).toBe(401);
    expect(await listed.body.json()).toMatchObject({ code: 'GUARD_ERR_ADMIN_DENIED' });
    const unlock = await request(`${base}/lockout/unlock`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong' },
      body: JSON.stringify({ email: 'alice@example.com' }),
    });
    expect(unlock.statusCode).toBe(401);
    await unlock.body.dump();
  });

  it('explains what it needs', async () => {
    const bare = await cli(['lockout', '--config', 'config.example.yaml']);
    expect(bare, bare.stderr).toMatchObject({ code: 2 });
    const missing = await cli(['lockout', 'unlock', '--config', 'config.example.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs an EMAIL');
  });
});

describe('ocomms-guard lockout without an admin listener', () => {
  it('works on the shared Redis directly', async () => {
    const redis = await startTestRedis();
    try {
      app = await startOcommsDouble();
      guard = await spawnGuard(app.url, {
        rateLimits: presetLimitsOff(),
        listen: { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: false },
        store: { redis: { url: redis.url } },
      });
      // Until the guard's client is connected, attempts are counted in its memory.
      const running = guard;
      await expect.poll(() => running.output(), { timeout: 10_000 }).toContain('"store ready"');
      const ca = readFileSync(join(guard.dataDir, 'internal-ca/ca.crt'));
      const client = new Agent({ connect: { ca, servername: 'localhost' } });
      agent = client;
      const url = `https://localhost:${guard.ports.https}`;
      const signIn = async (password: string) => {
        const response = await request(`${url}/api/auth/sign-in/email`, {
          dispatcher: client,
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: url },
          body: JSON.stringify({ email: 'dave@example.com', password }),
        });
        await response.body.dump();
        return response.statusCode;
      };
      for (let i = 0; i < 5; i += 1) expect(await signIn(`wrong-${i}`)).toBe(401);
      expect(await signIn(SEEDED_PASSWORD)).toBe(429);

      const config = join(guard.dataDir, 'config.yaml');
      const listed = await cli(['lockout', 'list', '--config', config]);
      expect(listed.stdout).toMatch(/dave@example\.com {2}account/);
      const unlocked = await cli(['lockout', 'unlock', 'dave@example.com', '--config', config]);
      expect(unlocked.stdout).toContain('unlocked dave@example.com: 2 lock(s) cleared');
      expect(unlocked.stderr).toMatch(/"type":"account\.unlocked".*"account":"cli:/);
      expect(await signIn(SEEDED_PASSWORD)).toBe(200);
    } finally {
      await redis.close();
    }
  });
});
