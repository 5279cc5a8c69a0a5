import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runtimeProblem } from '../../cli/runtime.js';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'guard-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], node = process.execPath) {
  try {
    const { stdout, stderr } = await run(node, [cliPath, ...args], { cwd: repoRoot });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('command line', () => {
  it('prints its version and help', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    expect((await cli(['--version'])).stdout.trim()).toBe(pkg.version);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('run --config FILE');
    expect(help.stdout).toContain('check --config FILE');
    expect(help.stdout).toContain('reload --config FILE');
  });

  it('rejects unknown commands and options with usage and exit code 2', async () => {
    expect((await cli(['serve'])).code).toBe(2);
    const unknown = await cli(['run', '--confg', 'x.yaml']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Usage:');
  });

  it('check accepts the example configuration', async () => {
    const result = await cli(['check', '--config', join(repoRoot, 'config.example.yaml')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid');
  });

  it('check prints every error with path, line and hint, and exits 1', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'upstream:\n  url: nope\n  conectTimeoutMs: 5\nlisten:\n  https: 99999\n');
    const result = await cli(['check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('3 error(s)');
    expect(result.stderr).toContain('upstream.url (line 2)');
    expect(result.stderr).toContain('did you mean "connectTimeoutMs"?');
    expect(result.stderr).toContain('listen.https (line 5)');
  });

  it('check accepts the container configuration and a file without the preset', async () => {
    const none = join(dir, 'no-preset.yaml');
    writeFileSync(none, 'preset: none\nupstream:\n  url: http://127.0.0.1:3000\n');
    for (const file of [join(repoRoot, 'docker/config.yaml'), none]) {
      const result = await cli(['check', '--config', file]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
  });

  it('check and run refuse impossible header values, every one with path and hint', async () => {
    const file = join(dir, 'bad-headers.yaml');
    const lines = [
      'headers:',
      '  xFrameOptions: DENNY',
      '  referrerPolicy: "no-referrer, same-orgin"',
      '  paths:',
      '    "/api/": { cacheControl: "no-store\\r\\nX-Injected: 1" }',
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    for (const command of ['check', 'run']) {
      const result = await cli([command, '--config', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('4 error(s)');
      expect(result.stderr).toContain(
        'upstream.url: required: the address of the app; found nothing; ' +
          'for example upstream: { url: http://127.0.0.1:3000 }',
      );
      expect(result.stderr).toContain('headers.xFrameOptions (line 2)');
      expect(result.stderr).toContain('found "DENNY"; did you mean "DENY"?');
      expect(result.stderr).toContain('found "same-orgin"; did you mean "same-origin"?');
      expect(result.stderr).toContain('headers.paths./api/.cacheControl (line 5)');
      expect(result.stderr).toContain('"no-store\\r\\nX-Injected: 1"');
    }
  });

  it('check reports a missing file clearly', async () => {
    const result = await cli(['check', '--config', join(dir, 'absent.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('GUARD_ERR_CONFIG_READ');
  });

  it('run refuses an unsupported Node.js with a clear message', async () => {
    // The machine's own Node.js 20, outside the project's pinned runtime.
    const result = await cli(['run', '--config', 'config.example.yaml'], '/usr/bin/node');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Node\.js 20\.\d+\.\d+ is not a supported line/);
  });
});

describe('runtime check', () => {
  it.each([
    ['20.20.2', false],
    ['22.23.1', false],
    ['22.23.2', true],
    ['22.30.0', true],
    ['24.18.0', false],
    ['24.18.1', true],
    ['24.21.0', true],
    ['23.11.0', false],
    ['25.0.0', false],
  ])('Node.js %s accepted: %s', (version, accepted) => {
    expect(runtimeProblem(version) === undefined).toBe(accepted);
  });

  it('names the flaw it guards against', () => {
    expect(runtimeProblem('24.17.0')).toContain('CVE-2026-58044');
  });
});
