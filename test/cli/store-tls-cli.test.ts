import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';
import { createTestCa } from '../support/test-ca.ts';

// store.redis.ca as operators meet it: in `check` and at start.

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'guard-store-tls-'));
const ca = createTestCa('store-tls-ca');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(ca.dir, { recursive: true, force: true });
});

const password = 'store-pw-s3cret';

async function cli(command: string, redis: Record<string, unknown>) {
  const file = join(dir, `${command}-${Math.random().toString(36).slice(2)}.yaml`);
  const config = {
    upstream: { url: 'http://127.0.0.1:9' },
    dataDir: dir,
    listen: { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    store: { redis },
  };
  writeFileSync(file, stringify(config));
  const args = [cliPath, command, '--config', file];
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: repoRoot, timeout: 30000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: `${failed.stdout}${failed.stderr}` };
  }
}

describe('store.redis.ca', () => {
  it('check accepts a CA for a rediss:// url', async () => {
    const result = await cli('check', { url: 'rediss://localhost:6380', ca: ca.certPath });
    expect(result).toMatchObject({ code: 0, output: expect.stringContaining('valid') });
  });

  it('check refuses a CA for a plaintext redis:// url, pointing to rediss://', async () => {
    const url = `redis://:${password}@localhost:6379`;
    const result = await cli('check', { url, ca: ca.certPath });
    expect(result.code).toBe(1);
    expect(result.output).toContain('store.redis.ca (line');
    expect(result.output).toContain('use rediss://');
    expect(result.output).not.toContain(password);
  });

  it('a CA file that cannot be read stops the start with a clear error', async () => {
    const missing = join(dir, 'absent-ca.pem');
    const url = `rediss://:${password}@localhost:6380`;
    const result = await cli('run', { url, ca: missing });
    expect(result.code).toBe(1);
    const fatal = result.output.split('\n').find((line) => line.includes('"level":"fatal"'));
    expect(JSON.parse(fatal ?? '{}')).toMatchObject({
      code: 'GUARD_ERR_TLS_MATERIAL',
      reason: `store.redis.ca: cannot read ${missing} (ENOENT)`,
      msg: 'guard failed to start',
    });
    // One line for the operator, no stack trace, no password.
    expect(result.output).not.toMatch(/^\s+at /m);
    expect(result.output).not.toContain(password);
  });
});
