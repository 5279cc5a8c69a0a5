import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const repoRoot = new URL('../../', import.meta.url).pathname;
export const cliPath = join(repoRoot, 'cli/ocomms-guard.js');

export type GuardProcess = {
  child: ChildProcess;
  ports: { https: number; http?: number; admin?: number };
  dataDir: string;
  output(): string;
  exited: Promise<number | null>;
};

export type SpawnOptions = {
  /** Standard output goes to this file, as with a file in systemd, not a pipe. */
  stdoutFile?: string;
};

// Runs the real command line as operators do, and waits for "guard started".
export async function spawnGuard(
  upstreamUrl: string,
  extra: Record<string, unknown> = {},
  options: SpawnOptions = {},
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'guard-cli-'));
  const configPath = join(dataDir, 'config.yaml');
  const config = {
    upstream: { url: upstreamUrl },
    dataDir,
    listen: { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    ...extra,
  };
  writeFileSync(configPath, stringify(config));
  const file = options.stdoutFile;
  const fd = file === undefined ? undefined : openSync(file, 'w');
  const child = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
    stdio: ['ignore', fd ?? 'pipe', 'pipe'],
  });
  if (fd !== undefined) closeSync(fd);
  let piped = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    piped += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    piped += chunk.toString('utf8');
  });
  const output = () => (file === undefined ? piped : `${readFileSync(file, 'utf8')}${piped}`);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  const ports = await new Promise<GuardProcess['ports']>((resolve, reject) => {
    const poll = file === undefined ? undefined : setInterval(() => look(), 50);
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`guard did not start:\n${output()}`));
    }, 15000);
    const look = () => {
      const line = output()
        .split('\n')
        .find((entry) => entry.includes('"guard started"'));
      if (!line) return;
      clearTimeout(timer);
      clearInterval(poll);
      child.stdout?.off('data', look);
      resolve((JSON.parse(line) as { ports: GuardProcess['ports'] }).ports);
    };
    child.stdout?.on('data', look);
    exited.then(() => {
      clearInterval(poll);
      reject(new Error(`guard exited early:\n${output()}`));
    });
  });
  const guard: GuardProcess = { child, ports, dataDir, output, exited };
  return guard;
}
