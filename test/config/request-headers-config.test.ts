import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.ts';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';

const base = 'upstream:\n  url: http://127.0.0.1:3000\n';
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'guard-drop-headers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(text: string): { path: string; message: string }[] {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

async function check(text: string) {
  const file = join(dir, `config-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, text);
  try {
    const { stdout, stderr } = await run(process.execPath, [cliPath, 'check', '--config', file], {
      cwd: repoRoot,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('upstream.dropRequestHeaders', () => {
  it('defaults to the preset list and nothing more', () => {
    const config = parseConfigText(base, 'min.yaml');
    expect(config.upstream.dropRequestHeaders).toEqual({ names: [], prefixes: [] });
  });

  it('reads names and prefixes in lower case', () => {
    const config = parseConfigText(
      `${base}  dropRequestHeaders:\n    nextjsInternal: false\n` +
        '    names: [X-Internal-User]\n    prefixes: [X-Debug-]\n',
      'set.yaml',
    );
    expect(config.upstream.dropRequestHeaders).toEqual({
      nextjsInternal: false,
      names: ['x-internal-user'],
      prefixes: ['x-debug-'],
    });
  });

  it('refuses what is not a header name and what the guard needs to forward', () => {
    const found = problems(
      `${base}  dropRequestHeaders:\n    nextjsInternal: "no"\n` +
        '    names: ["x bad", "Host", ""]\n    prefixes: ["con", "x:"]\n    drop: []\n',
    );
    expect(found.map((problem) => problem.path).sort()).toEqual([
      'upstream.dropRequestHeaders.drop',
      'upstream.dropRequestHeaders.names.0',
      'upstream.dropRequestHeaders.names.1',
      'upstream.dropRequestHeaders.names.2',
      'upstream.dropRequestHeaders.nextjsInternal',
      'upstream.dropRequestHeaders.prefixes.0',
      'upstream.dropRequestHeaders.prefixes.1',
    ]);
  });

  it('is accepted and refused by ocomms-guard check', async () => {
    const good = await check(
      `${base}  dropRequestHeaders: { names: [x-internal-user], prefixes: [x-debug-] }\n`,
    );
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('valid');
    const bad = await check(`${base}  dropRequestHeaders: { names: [upgrade], prefix: [x-] }\n`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('upstream.dropRequestHeaders.names.0 (line 3)');
    expect(bad.stderr).toContain('the guard needs this header to forward requests');
    expect(bad.stderr).toContain('did you mean "prefixes"?');
  });
});
