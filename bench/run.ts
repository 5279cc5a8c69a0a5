// npm run bench: the guard against the upstream alone and against a minimal
// Node.js TLS proxy, each server in its own process, the load from another.
// BENCH_SECONDS sets the measured seconds per target (default 10).
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { measureTarget, type Scenario, type Target } from './measure.ts';
import { readClockTicksPerSecond, readExecutable } from './proc-stats.ts';
import {
  detectPinning,
  type Pinning,
  startProcess,
  stopAll,
  waitForLogLine,
  waitForReady,
} from './processes.ts';
import { compareTargets, formatScenario, type ScenarioResult, writeJson } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsFile = join(root, 'bench', 'results', 'latest.json');
const connections = 50;
const responseBodyBytes = 1024;
// Creating the internal CA and its first leaf (two RSA keys) takes a while.
const guardStartMs = 60_000;
const serverStartMs = 10_000;

type Servers = {
  upstream: Target;
  minimal: Target;
  guard: Target;
  /** Every server process, upstream included. */
  pids: number[];
  caPath: string;
  logFile: string;
};

function readSeconds(): number {
  const raw = process.env.BENCH_SECONDS;
  if (raw === undefined || raw === '') return 10;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) {
    throw new Error(`BENCH_SECONDS must be a whole number from 1 to 600, found "${raw}"`);
  }
  return seconds;
}

function planScenarios(seconds: number): Scenario[] {
  const warmupSeconds = Math.min(3, Math.max(1, Math.round(seconds / 5)));
  return [
    { name: 'get', method: 'GET', requestBodyBytes: 0, seconds, warmupSeconds },
    {
      name: 'post',
      method: 'POST',
      requestBodyBytes: 1024,
      seconds: Math.max(1, Math.ceil(seconds / 2)),
      warmupSeconds,
    },
  ];
}

async function startServers(workDir: string, serverCore: string | undefined): Promise<Servers> {
  const node = process.execPath;
  const upstreamProcess = startProcess([node, join(root, 'bench', 'upstream.ts')], {
    name: 'upstream',
    core: serverCore,
    stdout: 'pipe',
  });
  const { port: upstreamPort } = await waitForReady(upstreamProcess, 'upstream', serverStartMs);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

  const dataDir = join(workDir, 'data');
  const configFile = join(workDir, 'guard.yaml');
  const config = {
    upstream: { url: upstreamUrl },
    dataDir,
    listen: { https: '127.0.0.1:0', http: false, admin: '127.0.0.1:0' },
    log: { level: 'info' },
  };
  writeFileSync(configFile, stringify(config));
  // The access log goes to a file, as it would to journald: the guard pays for
  // writing it and nobody else pays for reading it.
  const logFile = join(workDir, 'guard.log');
  const logFd = openSync(logFile, 'w');
  const guardArgv = [node, join(root, 'cli', 'ocomms-guard.js'), 'run', '--config', configFile];
  const guardProcess = startProcess(guardArgv, { name: 'guard', core: serverCore, stdout: logFd });
  closeSync(logFd);
  const started = await waitForLogLine(logFile, 'guard started', guardProcess, guardStartMs);
  const guardPort = (started.ports as { https?: number } | undefined)?.https;
  if (!guardPort) throw new Error('the "guard started" line carries no https port');

  const caDir = join(dataDir, 'internal-ca');
  const caPath = join(caDir, 'ca.crt');
  const minimalArgv = [
    node,
    join(root, 'bench', 'minimal-proxy.ts'),
    `--upstream=${upstreamUrl}`,
    `--cert=${join(caDir, 'leaf.crt')}`,
    `--key=${join(caDir, 'leaf.key')}`,
    `--ca=${caPath}`,
  ];
  const minimalProcess = startProcess(minimalArgv, {
    name: 'minimal proxy',
    core: serverCore,
    stdout: 'pipe',
  });
  const { port: minimalPort } = await waitForReady(minimalProcess, 'minimal proxy', serverStartMs);

  const minimalPid = checkedPid(minimalProcess.pid);
  const guardPid = checkedPid(guardProcess.pid);
  return {
    upstream: { name: 'direct', url: `${upstreamUrl}/bench`, pid: undefined },
    minimal: {
      name: 'minimal-proxy',
      url: `https://127.0.0.1:${minimalPort}/bench`,
      pid: minimalPid,
    },
    guard: { name: 'guard', url: `https://127.0.0.1:${guardPort}/bench`, pid: guardPid },
    pids: [checkedPid(upstreamProcess.pid), minimalPid, guardPid],
    caPath,
    logFile,
  };
}

// CPU and memory are read for this pid, so it must be Node.js itself and not
// a wrapper that started it.
function checkedPid(pid: number | undefined): number {
  if (pid === undefined) throw new Error('a server process has no pid');
  const executable = readExecutable(pid);
  if (executable !== realpathSync(process.execPath)) {
    throw new Error(`pid ${pid} runs ${executable}, not ${process.execPath}`);
  }
  return pid;
}

function describeSetup(pinning: Pinning, clockTicks: number, seconds: number): string {
  const placement = pinning.pinned
    ? `taskset: load generator on core ${pinning.loadCore}, ` +
      `upstream and proxies on core ${pinning.serverCore}`
    : `not pinned (${pinning.reason}): load generator and servers share the cores`;
  return [
    `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'})`,
    placement,
    `autocannon, ${connections} connections, ${seconds} s measured per target after a warm-up`,
    'latency from autocannon, which records whole milliseconds',
    `CPU from /proc/PID/stat at ${clockTicks} ticks/s; RSS is VmHWM; 127.0.0.1 only`,
    'other %: share of the server core used by processes outside the benchmark',
    'TLS: every load connection verified against the guard internal CA (ca.crt)',
  ].join('\n');
}

function countLines(file: string): { lines: number; bytes: number } {
  const content = readFileSync(file);
  let lines = 0;
  for (let index = content.indexOf(10); index !== -1; index = content.indexOf(10, index + 1)) {
    lines += 1;
  }
  return { lines, bytes: content.length };
}

async function main(seconds: number, workDir: string): Promise<void> {
  const scenarios = planScenarios(seconds);
  const pinning = detectPinning();
  const clockTicksPerSecond = readClockTicksPerSecond();
  const loadCore = pinning.pinned ? pinning.loadCore : undefined;
  const serverCore = pinning.pinned ? pinning.serverCore : undefined;
  process.stdout.write(`${describeSetup(pinning, clockTicksPerSecond, seconds)}\n\n`);

  const servers = await startServers(workDir, serverCore);
  const settings = {
    connections,
    loadCore,
    serverCore,
    serverPids: servers.pids,
    caPath: servers.caPath,
    clockTicksPerSecond,
  };
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const measurements = [];
    for (const target of [servers.upstream, servers.minimal, servers.guard]) {
      measurements.push(await measureTarget(target, scenario, settings));
    }
    const result: ScenarioResult = {
      name: scenario.name,
      method: scenario.method,
      requestBodyBytes: scenario.requestBodyBytes,
      responseBodyBytes,
      seconds: scenario.seconds,
      measurements,
      ratios: compareTargets(measurements),
    };
    results.push(result);
    process.stdout.write(`${formatScenario(result)}\n\n`);
  }

  const accessLog = countLines(servers.logFile);
  process.stdout.write(
    `guard log: ${accessLog.lines} lines, ${(accessLog.bytes / 2 ** 20).toFixed(1)} MiB ` +
      `(access logging on, written to a file)\n`,
  );
  writeJson(resultsFile, {
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    pinning,
    connections,
    clockTicksPerSecond,
    guardLogLines: accessLog.lines,
    scenarios: results,
  });
  process.stdout.write(`results written to ${resultsFile}\n`);
}

// Whatever ends the run, no server or load generator is left behind and the
// temporary directory (CA, keys, access log) goes with them.
let stopping = false;
async function finish(workDir: string, exitCode: number, reason?: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (reason) process.stderr.write(`bench: ${reason}; stopping every child process\n`);
  await stopAll();
  rmSync(workDir, { recursive: true, force: true });
  process.exit(exitCode);
}

function start(): void {
  let seconds: number;
  try {
    seconds = readSeconds();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'guard-bench-'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void finish(workDir, 130, `received ${signal}`));
  }
  // Each target: warm-up, measured run and a few seconds of process start-up.
  const plannedSeconds = planScenarios(seconds).reduce(
    (total, scenario) => total + 3 * (scenario.seconds + scenario.warmupSeconds + 5),
    guardStartMs / 1000,
  );
  setTimeout(
    () => void finish(workDir, 1, `still running after ${plannedSeconds} s`),
    plannedSeconds * 1000,
  ).unref();

  main(seconds, workDir).then(
    () => finish(workDir, 0),
    (error: unknown) => finish(workDir, 1, (error as Error).message),
  );
}

start();
