// Child processes of the benchmark: started on a chosen core when taskset is
// there, each with a deadline, and all stopped by stopAll() whatever happens.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';

export type Pinning =
  | { pinned: true; loadCore: string; serverCore: string }
  | { pinned: false; reason: string };

type StartOptions = {
  /** Named in the message when the process ends before stopAll() asks it to. */
  name: string;
  core?: string | undefined;
  /** 'pipe' to read the child's output, or a file descriptor to send it to. */
  stdout: 'pipe' | number;
};

const running = new Set<ChildProcess>();
let stopping = false;
const stopGraceMs = 5000;
const hasSetpriv = probe('setpriv', ['--pdeathsig', 'TERM', 'true']);

// The load generator gets one core and every server the other, so client and
// servers do not steal time from each other; the machine this was written for
// has exactly two.
export function detectPinning(): Pinning {
  if (availableParallelism() < 2) return { pinned: false, reason: 'only one core' };
  if (!probe('taskset', ['-c', '1', 'true'])) {
    return { pinned: false, reason: 'taskset unavailable' };
  }
  return { pinned: true, loadCore: '0', serverCore: '1' };
}

/**
 * Starts a process. taskset and setpriv both exec, so the pid is the program's.
 * setpriv asks the kernel to send SIGTERM to the child when this process dies,
 * even by SIGKILL, when no handler of ours gets to run.
 */
export function startProcess(argv: string[], options: StartOptions): ChildProcess {
  const pin = options.core ? ['taskset', '-c', options.core] : [];
  const orphanGuard = hasSetpriv ? ['setpriv', '--pdeathsig', 'TERM'] : [];
  const [command, ...args] = [...orphanGuard, ...pin, ...argv];
  if (!command) throw new Error('startProcess needs a command');
  const child = spawn(command, args, {
    stdio: ['ignore', options.stdout, 'inherit'],
  });
  running.add(child);
  child.once('exit', (code, signal) => {
    running.delete(child);
    if (stopping || code === 0) return;
    process.stderr.write(`bench: ${options.name} exited early (${signal ?? `code ${code}`})\n`);
  });
  return child;
}

/** Resolves with the first JSON line carrying ready: true on the child's stdout. */
export function waitForReady(child: ChildProcess, name: string, timeoutMs: number) {
  return new Promise<{ port: number }>((resolve, reject) => {
    const fail = (reason: string) => reject(new Error(`${name} ${reason}`));
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code) => fail(`exited with code ${code} before it was ready`));
    if (!child.stdout) return fail('has no stdout pipe');
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const message = parseJson(line);
      if (message?.ready !== true) return;
      clearTimeout(timer);
      lines.close();
      child.stdout?.resume();
      resolve({ port: Number(message.port) });
    });
  });
}

/** Polls a JSON-lines log file until a line with the given msg appears. */
export async function waitForLogLine(
  file: string,
  msg: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode}`);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const entry = parseJson(line);
      if (entry?.msg === msg) return entry;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no "${msg}" log line after ${timeoutMs} ms`);
}

/** Collects a child's stdout until it exits; kills it at the deadline. */
export function collectOutput(child: ChildProcess, timeoutMs: number) {
  return new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

/** SIGTERM to every child still running, SIGKILL to those left after the grace. */
export async function stopAll(): Promise<void> {
  stopping = true;
  const exits = [...running].map(
    (child) => new Promise<void>((resolve) => child.once('exit', () => resolve())),
  );
  for (const child of running) child.kill('SIGTERM');
  const grace = new Promise<void>((resolve) => setTimeout(resolve, stopGraceMs).unref());
  await Promise.race([Promise.all(exits), grace]);
  for (const child of running) child.kill('SIGKILL');
}

function probe(command: string, args: string[]): boolean {
  const result = spawnSync(command, args);
  return !result.error && result.status === 0;
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
