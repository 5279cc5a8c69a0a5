// npm run bench:rate-limit: what a rate-limited route costs the guard over the
// streaming fast path, in one run, with the limits kept in a real Redis.
// BENCH_SECONDS sets the measured seconds per target (default 10).
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startTestRedis, type TestRedis } from '../test/support/redis-server.ts';
import { measureTarget, type Scenario, warmUp } from './measure.ts';
import { readClockTicksPerSecond } from './proc-stats.ts';
import { detectPinning, startProcess, stopAll, waitForLogLine, waitForReady } from './processes.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS || 10);
if (!Number.isInteger(seconds) || seconds < 1 || seconds > 600) {
  throw new Error('BENCH_SECONDS must be a whole number from 1 to 600');
}
const connections = 50;

async function main(workDir: string, redis: TestRedis): Promise<void> {
  const pinning = detectPinning();
  const serverCore = pinning.pinned ? pinning.serverCore : undefined;
  const node = process.execPath;
  const upstream = startProcess([node, join(root, 'bench', 'upstream.ts')], {
    name: 'upstream',
    core: serverCore,
    stdout: 'pipe',
  });
  const { port } = await waitForReady(upstream, 'upstream', 10_000);

  // Every request of the run comes from 127.0.0.1, so the limit is set out of
  // reach: each request still consumes a point in Redis, none is refused.
  const configFile = join(workDir, 'guard.yaml');
  const config = {
    upstream: { url: `http://127.0.0.1:${port}` },
    dataDir: join(workDir, 'data'),
    listen: { https: '127.0.0.1:0', http: false, admin: '127.0.0.1:0' },
    store: { redis: { url: redis.url } },
    rateLimits: [
      {
        name: 'bench-limited',
        match: { path: '/bench-limited', methods: ['GET'] },
        key: ['ip'],
        limit: 1_000_000_000,
        windowSeconds: 3600,
      },
    ],
  };
  writeFileSync(configFile, stringify(config));
  const logFile = join(workDir, 'guard.log');
  const logFd = openSync(logFile, 'w');
  const argv = [node, join(root, 'cli', 'ocomms-guard.js'), 'run', '--config', configFile];
  const guard = startProcess(argv, { name: 'guard', core: serverCore, stdout: logFd });
  closeSync(logFd);
  const started = await waitForLogLine(logFile, 'guard started', guard, 60_000);
  const httpsPort = (started.ports as { https: number }).https;
  const pid = guard.pid;
  if (pid === undefined) throw new Error('the guard has no pid');

  const settings = {
    connections,
    loadCore: pinning.pinned ? pinning.loadCore : undefined,
    serverCore,
    serverPids: [pid],
    caPath: join(workDir, 'data', 'internal-ca', 'ca.crt'),
    clockTicksPerSecond: readClockTicksPerSecond(),
  };
  const scenario: Scenario = {
    name: 'get',
    method: 'GET',
    requestBodyBytes: 0,
    seconds,
    rounds: 1,
    warmupSeconds: Math.min(3, Math.max(1, Math.round(seconds / 5))),
  };
  const rows: string[] = [];
  const cpu: Record<string, number> = {};
  for (const path of ['/bench', '/bench-limited', '/bench']) {
    const url = `https://127.0.0.1:${httpsPort}${path}`;
    const target = { name: 'guard', url, pid } as const;
    await warmUp(target, scenario, settings);
    const result = await measureTarget(target, scenario, settings);
    const micros = result.cpuMicrosPerRequest ?? Number.NaN;
    cpu[path] = Math.min(cpu[path] ?? Number.POSITIVE_INFINITY, micros);
    rows.push(
      `${path.padEnd(16)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  ` +
        `p50 ${result.latencyP50Ms} ms  p99 ${result.latencyP99Ms} ms  ` +
        `CPU ${micros.toFixed(0)} µs/req  non-2xx ${result.non2xx}  errors ${result.errors}`,
    );
  }
  const extra = (cpu['/bench-limited'] ?? Number.NaN) - (cpu['/bench'] ?? Number.NaN);
  process.stdout.write(
    `${pinning.pinned ? 'pinned' : 'not pinned'}, ${connections} connections, ${seconds} s\n` +
      `${rows.join('\n')}\nrate-limited route costs ${extra.toFixed(0)} µs of guard CPU ` +
      'more per request than the fast path (Redis round trip included; target ≤ 300)\n',
  );
}

const workDir = mkdtempSync(join(tmpdir(), 'guard-bench-rl-'));
const redis = await startTestRedis();
const deadline = setTimeout(() => void finish(1, 'deadline passed'), (seconds * 8 + 120) * 1000);
deadline.unref();
async function finish(code: number, reason?: string): Promise<void> {
  if (reason) process.stderr.write(`bench: ${reason}\n`);
  await stopAll();
  await redis.close();
  rmSync(workDir, { recursive: true, force: true });
  process.exit(code);
}
main(workDir, redis).then(
  () => finish(0),
  (error: unknown) => finish(1, (error as Error).message),
);
