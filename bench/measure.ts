// One measured run against one target: a bounded autocannon run in its own
// process while this process samples the server's CPU time and peak memory
// from /proc around it. The warm-up is a run of its own, measured by nobody.
import { fileURLToPath } from 'node:url';
import {
  type CoreTicks,
  readCoreTicks,
  readCpuTicks,
  readPeakRssKib,
  resetPeakRss,
} from './proc-stats.ts';
import { collectOutput, startProcess } from './processes.ts';
import type { Measurement, TargetName } from './report.ts';

export type Target = {
  name: TargetName;
  url: string;
  /** The process whose CPU and memory are measured; none for the upstream alone. */
  pid: number | undefined;
};

export type Scenario = {
  name: string;
  method: 'GET' | 'POST';
  requestBodyBytes: number;
  /** Measured seconds per target in each round. */
  seconds: number;
  rounds: number;
  warmupSeconds: number;
};

export type LoadSettings = {
  connections: number;
  loadCore: string | undefined;
  /** With serverPids, to tell how much of the servers' core went to others. */
  serverCore: string | undefined;
  serverPids: number[];
  caPath: string;
  clockTicksPerSecond: number;
};

type LoadSummary = {
  requests: number;
  seconds: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  tls: { verified: number; failed: number; lastError: string; negotiated: string };
};

const loadScript = fileURLToPath(new URL('./load.ts', import.meta.url));
// Room for process start-up and autocannon's own wind-down after the duration.
const loadSlackMs = 30_000;

export async function warmUp(
  target: Target,
  scenario: Scenario,
  settings: LoadSettings,
): Promise<void> {
  await runLoad(target, scenario, scenario.warmupSeconds, settings);
}

export async function measureTarget(
  target: Target,
  scenario: Scenario,
  settings: LoadSettings,
): Promise<Measurement> {
  const pid = target.pid;
  const peakIsPerRun = pid !== undefined && resetPeakRss(pid);
  const ticksBefore = pid === undefined ? 0 : readCpuTicks(pid);
  const coreBefore = sampleServerCore(settings);

  const load = await runLoad(target, scenario, scenario.seconds, settings);

  const ticks = pid === undefined ? 0 : readCpuTicks(pid) - ticksBefore;
  const coreAfter = sampleServerCore(settings);
  const cpuMicros = (ticks / settings.clockTicksPerSecond) * 1e6;
  return {
    target: target.name,
    url: target.url,
    requests: load.requests,
    requestsPerSecond: load.seconds > 0 ? load.requests / load.seconds : 0,
    latencyP50Ms: load.latencyP50Ms,
    latencyP99Ms: load.latencyP99Ms,
    errors: load.errors + load.timeouts,
    non2xx: load.non2xx,
    tlsConnectionsVerified: load.tls.verified,
    tlsNegotiated: load.tls.negotiated || undefined,
    cpuMicrosPerRequest:
      pid === undefined || load.requests === 0 ? undefined : cpuMicros / load.requests,
    peakRssMiB: pid === undefined ? undefined : readPeakRssKib(pid) / 1024,
    ...(pid === undefined ? {} : { peakRssScope: peakIsPerRun ? 'run' : 'process-lifetime' }),
    serverCoreOtherPercent: otherShare(coreBefore, coreAfter),
  };
}

type CoreSample = { core: CoreTicks; ours: number };

function sampleServerCore(settings: LoadSettings): CoreSample | undefined {
  if (settings.serverCore === undefined) return undefined;
  const ours = settings.serverPids.reduce((sum, pid) => sum + readCpuTicks(pid), 0);
  return { core: readCoreTicks(settings.serverCore), ours };
}

// Other sessions or the hypervisor taking the servers' core make every figure
// of that run worse; the share is reported so such runs can be recognised.
function otherShare(before?: CoreSample, after?: CoreSample): number | undefined {
  if (!before || !after) return undefined;
  const total = after.core.total - before.core.total;
  if (total <= 0) return undefined;
  const others = after.core.busy - before.core.busy - (after.ours - before.ours);
  return Math.max(0, (others / total) * 100);
}

async function runLoad(
  target: Target,
  scenario: Scenario,
  seconds: number,
  settings: LoadSettings,
): Promise<LoadSummary> {
  const secure = target.url.startsWith('https:');
  const args = [
    process.execPath,
    loadScript,
    `--url=${target.url}`,
    `--seconds=${seconds}`,
    `--connections=${settings.connections}`,
    `--method=${scenario.method}`,
    `--body-bytes=${scenario.requestBodyBytes}`,
    ...(secure ? [`--ca=${settings.caPath}`, '--servername=localhost'] : []),
  ];
  const child = startProcess(args, {
    name: 'load generator',
    core: settings.loadCore,
    stdout: 'pipe',
  });
  const { code, stdout } = await collectOutput(child, seconds * 1000 + loadSlackMs);
  const summary = parseSummary(stdout);
  if (summary?.tls.failed) {
    throw new Error(`TLS verification failed for ${target.url}: ${summary.tls.lastError}`);
  }
  if (code !== 0 || !summary) {
    throw new Error(`load generator for ${target.url} exited with code ${code}`);
  }
  if (secure && summary.tls.verified === 0 && summary.requests > 0) {
    throw new Error(`no TLS connection to ${target.url} was checked against the CA`);
  }
  return summary;
}

function parseSummary(stdout: string): LoadSummary | undefined {
  const last = stdout.trim().split('\n').at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last) as LoadSummary;
  } catch {
    return undefined;
  }
}
