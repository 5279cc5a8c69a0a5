import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

// Runs the real command line as operators do, and waits for "guard started".
export async function spawnGuard(upstreamUrl: string, extra: Record<string, unknown> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'guard-cli-'));
  const configPath = join(dataDir, 'config.yaml');
  const config = {
    upstream: { url: upstreamUrl },
    dataDir,
    listen: { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    ...extra,
  };
  writeFileSync(configPath, stringify(config));
  const child = spawn(process.execPath, [cliPath, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  const ports = await new Promise<GuardProcess['ports']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`guard did not start:\n${output}`)), 15000);
    const look = () => {
      const line = output.split('\n').find((entry) => entry.includes('"guard started"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout?.off('data', look);
      resolve((JSON.parse(line) as { ports: GuardProcess['ports'] }).ports);
    };
    child.stdout?.on('data', look);
    exited.then(() => reject(new Error(`guard exited early:\n${output}`)));
  });
  const guard: GuardProcess = { child, ports, dataDir, output: () => output, exited };
  return guard;
}
