// A shared machine has bursts: a neighbour takes the core for a few seconds and
// whichever target runs then looks slow. The benchmark therefore measures in
// rounds, every target once per round in an order that alternates, and compares
// the targets round by round: the ratio it reports is the median of the
// per-round ratios, with their range beside it.
import { compareTargets, type Measurement, type ScenarioResult } from './report.ts';

export type RoundRatios = ScenarioResult['ratios'];

/** The targets of one round in the order they run: reversed every other round. */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...targets] : [...targets].reverse();
}

/** One target's rounds as a single measurement: totals over all rounds. */
export function combineRounds(rounds: readonly Measurement[]): Measurement {
  const [first] = rounds;
  if (!first) throw new Error('no rounds to combine');
  const requests = sum(rounds.map((entry) => entry.requests));
  const seconds = sum(rounds.map((entry) => entry.requests / (entry.requestsPerSecond || 1)));
  const cpuRounds = rounds.filter((entry) => entry.cpuMicrosPerRequest !== undefined);
  const cpuMicros = sum(
    cpuRounds.map((entry) => (entry.cpuMicrosPerRequest ?? 0) * entry.requests),
  );
  const others = rounds.map((entry) => entry.serverCoreOtherPercent);
  const rss = rounds.map((entry) => entry.peakRssMiB).filter((value) => value !== undefined);
  return {
    ...first,
    requests,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    latencyP50Ms: median(rounds.map((entry) => entry.latencyP50Ms)),
    latencyP99Ms: median(rounds.map((entry) => entry.latencyP99Ms)),
    errors: sum(rounds.map((entry) => entry.errors)),
    non2xx: sum(rounds.map((entry) => entry.non2xx)),
    tlsConnectionsVerified: sum(rounds.map((entry) => entry.tlsConnectionsVerified)),
    cpuMicrosPerRequest:
      cpuRounds.length === rounds.length && requests > 0 ? cpuMicros / requests : undefined,
    peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined,
    serverCoreOtherPercent: others.some((value) => value === undefined)
      ? undefined
      : Math.max(...others.map((value) => value ?? 0)),
  };
}

/**
 * The median over rounds of each ratio, and the lowest and highest req/s
 * ratio seen in a round.
 */
export function medianRatios(perRound: readonly RoundRatios[]): {
  ratios: RoundRatios;
  requestsPerSecondRange: Record<string, [number, number]>;
} {
  const ratios: RoundRatios = {};
  const requestsPerSecondRange: Record<string, [number, number]> = {};
  const pairs = new Set(perRound.flatMap((round) => Object.keys(round)));
  for (const pair of pairs) {
    const rounds = perRound.map((round) => round[pair]).filter((entry) => entry !== undefined);
    const keys = new Set(rounds.flatMap((entry) => Object.keys(entry)));
    const combined: Record<string, number | undefined> = {};
    for (const key of keys) {
      const values = rounds.map((entry) => entry[key]).filter((value) => value !== undefined);
      combined[key] = values.length === rounds.length ? median(values) : undefined;
    }
    ratios[pair] = combined;
    const throughput = rounds.map((entry) => entry.requestsPerSecond);
    if (throughput.every((value) => value !== undefined) && throughput.length > 0) {
      requestsPerSecondRange[pair] = [Math.min(...throughput), Math.max(...throughput)];
    }
  }
  return { ratios, requestsPerSecondRange };
}

/** Per-round ratios of a round's measurements, as compareTargets gives them. */
export function roundRatios(round: readonly Measurement[]): RoundRatios {
  return compareTargets([...round]);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  if (sorted.length % 2 === 1) return sorted[middle] ?? Number.NaN;
  return ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
