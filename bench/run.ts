// npm run bench: the guard against the upstream alone and against a minimal
// Node.js TLS proxy, each server in its own process, the load from another.
// BENCH_SECONDS sets the measured seconds per target (default 20), spread over
// BENCH_ROUNDS rounds (default 10).
import {
  closeSync,
  cpSync,
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
import { measureTarget, type Scenario, type Target, warmUp } from './measure.ts';
import { readClockTicksPerSecond, readExecutable } from './proc-stats.ts';
import {
  detectPinning,
  type Pinning,
  startProcess,
  stopAll,
  waitForLogLine,
  waitForReady,
} from './processes.ts';
import { formatScenario, type Measurement, type ScenarioResult, writeJson } from './report.ts';
import { combineRounds, medianRatios, roundOrder, roundRatios } from './rounds.ts';

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
  /** The guard with its access log off. */
  quiet: Target;
  /** Every server process, upstream included. */
  pids: number[];
  caPath: string;
  logFile: string;
};

function readWholeNumber(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be a whole number from 1 to ${max}, found "${raw}"`);
  }
  return value;
}

// Rounds shorter than two seconds would mostly measure connection set-up.
function planScenarios(seconds: number, rounds: number): Scenario[] {
  const warmupSeconds = Math.min(3, Math.max(1, Math.round(seconds / 5)));
  const perRound = (total: number) => Math.max(2, Math.ceil(total / rounds));
  return [
    {
      name: 'get',
      method: 'GET',
      requestBodyBytes: 0,
      seconds: perRound(seconds),
      rounds,
      warmupSeconds,
    },
    {
      name: 'post',
      method: 'POST',
      requestBodyBytes: 1024,
      seconds: perRound(seconds / 2),
      rounds,
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

  const guard = await startGuard(workDir, 'guard', upstreamUrl, true, serverCore);
  const caDir = join(guard.dataDir, 'internal-ca');
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

  // The same guard with the access log off, on the same certificate: what
  // one line per request costs.
  cpSync(caDir, join(workDir, 'guard-quiet', 'internal-ca'), { recursive: true });
  const quiet = await startGuard(workDir, 'guard-quiet', upstreamUrl, false, serverCore);

  const minimalPid = checkedPid(minimalProcess.pid);
  return {
    upstream: { name: 'direct', url: `${upstreamUrl}/bench`, pid: undefined },
    minimal: {
      name: 'minimal-proxy',
      url: `https://127.0.0.1:${minimalPort}/bench`,
      pid: minimalPid,
    },
    guard: { name: 'guard', url: `https://127.0.0.1:${guard.port}/bench`, pid: guard.pid },
    quiet: { name: 'guard-quiet', url: `https://127.0.0.1:${quiet.port}/bench`, pid: quiet.pid },
    pids: [checkedPid(upstreamProcess.pid), minimalPid, guard.pid, quiet.pid],
    caPath,
    logFile: guard.logFile,
  };
}

// A guard on the default configuration, with or without its access log, its
// data in workDir/name. The log goes to a file, as it would to journald: the
// guard pays for writing it and nobody else pays for reading it.
async function startGuard(
  workDir: string,
  name: 'guard' | 'guard-quiet',
  upstreamUrl: string,
  accessLog: boolean,
  serverCore: string | undefined,
) {
  const dataDir = join(workDir, name);
  const configFile = join(workDir, `${name}.yaml`);
  const config = {
    upstream: { url: upstreamUrl },
    dataDir,
    listen: { https: '127.0.0.1:0', http: false, admin: '127.0.0.1:0' },
    log: { level: 'info', access: accessLog },
  };
  writeFileSync(configFile, stringify(config));
  const logFile = join(workDir, `${name}.log`);
  const logFd = openSync(logFile, 'w');
  const argv = [process.execPath, join(root, 'cli', 'ocomms-guard.js'), 'run', '--config'];
  const child = startProcess([...argv, configFile], { name, core: serverCore, stdout: logFd });
  closeSync(logFd);
  const started = await waitForLogLine(logFile, 'guard started', child, guardStartMs);
  const port = (started.ports as { https?: number } | undefined)?.https;
  if (!port) throw new Error(`the "guard started" line of ${name} carries no https port`);
  return { dataDir, logFile, port, pid: checkedPid(child.pid) };
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

function describeSetup(pinning: Pinning, clockTicks: number, scenarios: Scenario[]): string {
  const rounds = scenarios
    .map((scenario) => `${scenario.name} ${scenario.rounds} x ${scenario.seconds} s`)
    .join(', ');
  const placement = pinning.pinned
    ? `taskset: load generator on core ${pinning.loadCore}, ` +
      `upstream and proxies on core ${pinning.serverCore}`
    : `not pinned (${pinning.reason}): load generator and servers share the cores`;
  return [
    `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'})`,
    placement,
    `autocannon, ${connections} connections, one warm-up per target, then rounds (${rounds})`,
    'each round loads every target once, the order reversed every other round;',
    'figures are totals over the rounds, ratios the median of per-round ratios [range]',
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

async function main(seconds: number, rounds: number, workDir: string): Promise<void> {
  const scenarios = planScenarios(seconds, rounds);
  const pinning = detectPinning();
  const clockTicksPerSecond = readClockTicksPerSecond();
  const loadCore = pinning.pinned ? pinning.loadCore : undefined;
  const serverCore = pinning.pinned ? pinning.serverCore : undefined;
  const setup = describeSetup(pinning, clockTicksPerSecond, scenarios);
  process.stdout.write(`${setup}\n\n`);

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
  const targets = [servers.upstream, servers.minimal, servers.guard, servers.quiet];
  for (const scenario of scenarios) {
    for (const target of targets) await warmUp(target, scenario, settings);
    const byTarget = new Map<Target, Measurement[]>(targets.map((target) => [target, []]));
    const perRound = [];
    for (let round = 0; round < scenario.rounds; round += 1) {
      const measured: Measurement[] = [];
      for (const target of roundOrder(targets, round)) {
        const measurement = await measureTarget(target, scenario, settings);
        byTarget.get(target)?.push(measurement);
        measured.push(measurement);
      }
      perRound.push(roundRatios(measured));
    }
    const { ratios, requestsPerSecondRange } = medianRatios(perRound);
    const result: ScenarioResult = {
      name: scenario.name,
      method: scenario.method,
      requestBodyBytes: scenario.requestBodyBytes,
      responseBodyBytes,
      seconds: scenario.seconds,
      rounds: scenario.rounds,
      measurements: targets.map((target) => combineRounds(byTarget.get(target) ?? [])),
      ratios,
      requestsPerSecondRange,
      roundMeasurements: targets.map((target) => byTarget.get(target) ?? []),
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
  let rounds: number;
  try {
    seconds = readWholeNumber('BENCH_SECONDS', 20, 600);
    rounds = readWholeNumber('BENCH_ROUNDS', 10, 50);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'guard-bench-'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void finish(workDir, 130, `received ${signal}`));
  }
  // Each target: warm-up, measured run and a few seconds of process start-up.
  const plannedSeconds = planScenarios(seconds, rounds).reduce(
    (total, scenario) =>
      total + 4 * (scenario.warmupSeconds + 5 + scenario.rounds * (scenario.seconds + 5)),
    guardStartMs / 1000,
  );
  setTimeout(
    () => void finish(workDir, 1, `still running after ${plannedSeconds} s`),
    plannedSeconds * 1000,
  ).unref();

  main(seconds, rounds, workDir).then(
    () => finish(workDir, 0),
    (error: unknown) => finish(workDir, 1, (error as Error).message),
  );
}

start();
