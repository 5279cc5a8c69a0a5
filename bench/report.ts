// Turns measurements into the printed table, the ratios and the JSON record.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type TargetName = 'direct' | 'minimal-proxy' | 'guard' | 'guard-quiet';

export type Measurement = {
  target: TargetName;
  url: string;
  requests: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Connection errors plus timeouts, as autocannon counts them. */
  errors: number;
  non2xx: number;
  tlsConnectionsVerified: number;
  /** Protocol and cipher suite of the first connection, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384". */
  tlsNegotiated: string | undefined;
  /** CPU time (user + system) of the server process per request; not for direct. */
  cpuMicrosPerRequest: number | undefined;
  peakRssMiB: number | undefined;
  /** 'run' when the peak was reset before the run, else since the process started. */
  peakRssScope?: 'run' | 'process-lifetime';
  /** Share of the servers' core used by processes outside the benchmark, in %. */
  serverCoreOtherPercent: number | undefined;
};

export type ScenarioResult = {
  name: string;
  method: string;
  requestBodyBytes: number;
  responseBodyBytes: number;
  /** Measured seconds per target in each round. */
  seconds: number;
  rounds: number;
  /** Each target's totals over all rounds. */
  measurements: Measurement[];
  /** The median of the per-round ratios. */
  ratios: Record<string, Record<string, number | undefined>>;
  /** The lowest and highest per-round req/s ratio of each pair. */
  requestsPerSecondRange: Record<string, [number, number]>;
  /** Each target's rounds, in the order of measurements. */
  roundMeasurements: Measurement[][];
};

const columns = [
  'target',
  'req/s',
  'p50 ms',
  'p99 ms',
  'errors',
  'non-2xx',
  'CPU µs/req',
  'RSS MiB',
  'other %',
];
// Above this share of the servers' core taken by others, a run is flagged.
const disturbedPercent = 10;

export function compareTargets(measurements: Measurement[]): ScenarioResult['ratios'] {
  const byName = new Map(measurements.map((entry) => [entry.target, entry]));
  const guard = byName.get('guard');
  const quiet = byName.get('guard-quiet');
  const minimal = byName.get('minimal-proxy');
  const direct = byName.get('direct');
  if (!guard) return {};

  const ratios: ScenarioResult['ratios'] = {};
  if (minimal) ratios['guard/minimal-proxy'] = ratiosOf(guard, minimal);
  if (minimal && quiet) ratios['guard-quiet/minimal-proxy'] = ratiosOf(quiet, minimal);
  if (direct) ratios['guard/direct'] = ratiosOf(guard, direct);
  return ratios;
}

function ratiosOf(a: Measurement, b: Measurement): Record<string, number | undefined> {
  return {
    requestsPerSecond: divide(a.requestsPerSecond, b.requestsPerSecond),
    latencyP50Ms: divide(a.latencyP50Ms, b.latencyP50Ms),
    latencyP99Ms: divide(a.latencyP99Ms, b.latencyP99Ms),
    cpuMicrosPerRequest: divide(a.cpuMicrosPerRequest, b.cpuMicrosPerRequest),
    peakRssMiB: divide(a.peakRssMiB, b.peakRssMiB),
  };
}

function divide(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return Math.round((a / b) * 100) / 100;
}

export function formatScenario(result: ScenarioResult): string {
  const title =
    `${result.name}: ${result.method}, ${result.requestBodyBytes} B request body, ` +
    `${result.responseBodyBytes} B response body, ` +
    `${result.rounds} rounds of ${result.seconds} s per target`;
  const rows = result.measurements.map((entry) => [
    entry.target,
    entry.requestsPerSecond.toFixed(0),
    entry.latencyP50Ms.toFixed(1),
    entry.latencyP99Ms.toFixed(1),
    String(entry.errors),
    String(entry.non2xx),
    entry.cpuMicrosPerRequest === undefined ? '-' : entry.cpuMicrosPerRequest.toFixed(1),
    entry.peakRssMiB === undefined ? '-' : entry.peakRssMiB.toFixed(1),
    entry.serverCoreOtherPercent === undefined ? '-' : entry.serverCoreOtherPercent.toFixed(0),
  ]);
  const lines = [title, ...formatTable([columns, ...rows])];
  for (const [pair, ratio] of Object.entries(result.ratios)) {
    const range = result.requestsPerSecondRange[pair];
    const spread = range ? ` [${range[0].toFixed(2)}-${range[1].toFixed(2)}]` : '';
    const parts = [
      `req/s ${times(ratio.requestsPerSecond)}${spread}`,
      `p50 ${times(ratio.latencyP50Ms)}`,
      `p99 ${times(ratio.latencyP99Ms)}`,
    ];
    if (ratio.cpuMicrosPerRequest !== undefined) {
      parts.push(`CPU/req ${times(ratio.cpuMicrosPerRequest)}`);
    }
    if (ratio.peakRssMiB !== undefined) parts.push(`RSS ${times(ratio.peakRssMiB)}`);
    lines.push(`  ${pair.padEnd(20)} ${parts.join(', ')}`);
  }
  const negotiated = result.measurements
    .filter((entry) => entry.tlsNegotiated)
    .map((entry) => `${entry.target} ${entry.tlsNegotiated}`);
  if (negotiated.length > 0) lines.push(`  tls: ${negotiated.join('; ')}`);
  const disturbed = result.measurements.filter(
    (entry) => (entry.serverCoreOtherPercent ?? 0) > disturbedPercent,
  );
  if (disturbed.length > 0) {
    const names = disturbed.map((entry) => entry.target).join(', ');
    lines.push(
      `  warning: other processes took over ${disturbedPercent}% of the server core (${names})`,
    );
  }
  return lines.join('\n');
}

function times(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(2)}x`;
}

function formatTable(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, index) =>
    Math.max(...rows.map((row) => (row[index] ?? '').length)),
  );
  if (!widths) return [];
  const format = (row: string[]) =>
    row
      .map((cell, index) =>
        index === 0 ? cell.padEnd(widths[index] ?? 0) : cell.padStart(widths[index] ?? 0),
      )
      .join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  const [header, ...body] = rows;
  return [`  ${format(header ?? [])}`, `  ${rule}`, ...body.map((row) => `  ${format(row)}`)];
}

export function writeJson(file: string, record: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
}
