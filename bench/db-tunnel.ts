// npm run bench:db-tunnel: a bulk COPY through the guard's database tunnel
// against the same COPY over a direct TLS connection, in the same run. The
// server is a throwaway PostgreSQL with TLS only; the guard runs in its own
// process; the load is Debian's psql, one more process per transfer.
// BENCH_DB_MIB sets the size of each transfer (default 64), BENCH_DB_ROUNDS
// the rounds (default 3); every transfer has a deadline, and so does the run.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startTestPostgres, type TestPostgres } from '../test/support/postgres-server.ts';
import { createTestCa } from '../test/support/test-ca.ts';
import { readClockTicksPerSecond, readCpuTicks } from './proc-stats.ts';
import { collectOutput, startProcess, stopAll, waitForLogLine } from './processes.ts';
import { writeJson } from './report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsFile = join(root, 'bench', 'results', 'db-tunnel.json');
const transferTimeoutMs = 120_000;
const guardStartMs = 60_000;

type Path = 'direct' | 'tunnel';
type Direction = 'out' | 'in';
type Transfer = { path: Path; direction: Direction; seconds: number; guardCpuSeconds: number };

function readBounded(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be a whole number from 1 to ${max}, found "${raw}"`);
  }
  return value;
}

function psqlUrl(server: TestPostgres, path: Path, tunnelPort: number, caPath: string) {
  return path === 'direct'
    ? `postgresql://${server.user}@localhost:${server.port}/${server.database}` +
        `?sslmode=verify-full&sslrootcert=${caPath}`
    : `postgresql://${server.user}@127.0.0.1:${tunnelPort}/${server.database}?sslmode=disable`;
}

// One transfer: psql in its own process, its output thrown away, timed from
// start to exit. "out" is COPY TO STDOUT (server to app), "in" is \copy FROM
// a file (app to server).
async function transfer(url: string, direction: Direction, file: string, password: string) {
  const sql = direction === 'out' ? 'copy bulk to stdout' : `\\copy bulk_in from '${file}'`;
  const devNull = openSync('/dev/null', 'w');
  process.env.PGPASSWORD = password;
  const started = process.hrtime.bigint();
  const child = startProcess(['psql', url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    name: 'psql',
    stdout: devNull,
  });
  closeSync(devNull);
  const { code } = await collectOutput(child, transferTimeoutMs);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`psql ${direction} ended with code ${code}`);
  return seconds;
}

async function startGuard(workDir: string, server: TestPostgres, caPath: string) {
  const configFile = join(workDir, 'guard.yaml');
  const logFile = join(workDir, 'guard.log');
  const config = {
    upstream: { url: 'http://127.0.0.1:9' },
    dataDir: join(workDir, 'data'),
    listen: { https: '127.0.0.1:0', http: false, admin: false },
    log: { level: 'info' },
    dbTunnel: {
      listen: '127.0.0.1:0',
      target: `127.0.0.1:${server.port}`,
      serverName: 'localhost',
      tls: { ca: caPath },
    },
  };
  writeFileSync(configFile, stringify(config));
  const logFd = openSync(logFile, 'w');
  const argv = [process.execPath, join(root, 'cli', 'ocomms-guard.js'), 'run'];
  const child = startProcess([...argv, '--config', configFile], { name: 'guard', stdout: logFd });
  closeSync(logFd);
  const started = await waitForLogLine(logFile, 'guard started', child, guardStartMs);
  const port = (started.ports as { dbTunnel?: number } | undefined)?.dbTunnel;
  if (!port || child.pid === undefined) throw new Error('the guard started no tunnel');
  return { port, pid: child.pid };
}

function writeRows(file: string, rows: number): number {
  const fd = openSync(file, 'w');
  let bytes = 0;
  let batch: string[] = [];
  for (let id = 1; id <= rows; id += 1) {
    batch.push(`${id}\t${createHash('md5').update(String(id)).digest('hex').repeat(4)}\n`);
    if (batch.length === 10_000 || id === rows) {
      const chunk = Buffer.from(batch.join(''), 'utf8');
      writeSync(fd, chunk);
      bytes += chunk.length;
      batch = [];
    }
  }
  closeSync(fd);
  return bytes;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(workDir: string, mib: number, rounds: number): Promise<void> {
  const ca = createTestCa('bench-db-ca');
  const server = await startTestPostgres({
    tls: ca.issue('localhost', ['localhost', '127.0.0.1']),
  });
  try {
    // Rows of about 140 bytes in COPY text form: id, tab, 128 hex digits.
    const rows = Math.ceil((mib * 1024 * 1024) / 140);
    server.psql(
      'create table bulk as select g as id, repeat(md5(g::text), 4) as payload ' +
        `from generate_series(1, ${rows}) g`,
    );
    server.psql('create table bulk_in (like bulk)');
    // The same rows in COPY text form, for the transfers towards the server.
    const file = join(workDir, 'bulk.copy');
    const bytes = writeRows(file, rows);

    const guard = await startGuard(workDir, server, ca.certPath);
    const ticks = readClockTicksPerSecond();
    const transfers: Transfer[] = [];
    // Direct and tunnel alternate, so drift in the machine's load hits both.
    for (let round = 0; round < rounds; round += 1) {
      for (const direction of ['out', 'in'] as const) {
        for (const path of ['direct', 'tunnel'] as const) {
          const url = psqlUrl(server, path, guard.port, ca.certPath);
          const cpuBefore = readCpuTicks(guard.pid);
          const seconds = await transfer(url, direction, file, server.password);
          const guardCpuSeconds = (readCpuTicks(guard.pid) - cpuBefore) / ticks;
          transfers.push({ path, direction, seconds, guardCpuSeconds });
          if (direction === 'in') {
            const count = Number(server.psql('select count(*) from bulk_in').trim());
            if (count !== rows) throw new Error(`${path} COPY IN stored ${count} of ${rows} rows`);
            server.psql('truncate bulk_in');
          }
        }
      }
    }
    report(transfers, bytes, rounds);
  } finally {
    server.close();
  }
}

function report(transfers: Transfer[], bytes: number, rounds: number): void {
  const mibTotal = bytes / 2 ** 20;
  const lines = [
    `node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'})`,
    `${mibTotal.toFixed(1)} MiB per COPY, ${rounds} rounds, median shown; 127.0.0.1 only`,
    'direct: psql sslmode=verify-full to PostgreSQL; tunnel: psql in plaintext to the guard,',
    'the guard over verified TLS to the same PostgreSQL; processes not pinned',
    '',
    'direction  path    MiB/s   seconds  guard CPU s/GiB',
  ];
  const summary: Record<string, Record<string, number>> = {};
  for (const direction of ['out', 'in'] as const) {
    for (const path of ['direct', 'tunnel'] as const) {
      const runs = transfers.filter((t) => t.path === path && t.direction === direction);
      const seconds = median(runs.map((run) => run.seconds));
      const cpuPerGiB = median(runs.map((run) => run.guardCpuSeconds)) / (mibTotal / 1024);
      const mibPerSecond = mibTotal / seconds;
      summary[`${direction}-${path}`] = { mibPerSecond, seconds, guardCpuSecondsPerGiB: cpuPerGiB };
      const cpu = path === 'tunnel' ? cpuPerGiB.toFixed(2) : '-';
      lines.push(
        `${direction.padEnd(10)} ${path.padEnd(7)} ${mibPerSecond.toFixed(1).padStart(6)}` +
          `   ${seconds.toFixed(2).padStart(7)}  ${cpu.padStart(15)}`,
      );
    }
    const ratio =
      (summary[`${direction}-tunnel`]?.mibPerSecond ?? 0) /
      (summary[`${direction}-direct`]?.mibPerSecond ?? 1);
    lines.push(`${direction.padEnd(10)} tunnel/direct throughput: ${ratio.toFixed(2)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  writeJson(resultsFile, {
    finishedAt: new Date().toISOString(),
    bytes,
    rounds,
    transfers,
    summary,
  });
  process.stdout.write(`results written to ${resultsFile}\n`);
}

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
  let mib: number;
  let rounds: number;
  try {
    mib = readBounded('BENCH_DB_MIB', 64, 1024);
    rounds = readBounded('BENCH_DB_ROUNDS', 3, 20);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'guard-bench-db-'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void finish(workDir, 130, `received ${signal}`));
  }
  // Four transfers a round, each bounded, plus start-up and table creation.
  const deadlineMs = guardStartMs + 60_000 + rounds * 4 * transferTimeoutMs;
  setTimeout(() => void finish(workDir, 1, 'deadline passed'), deadlineMs).unref();
  main(workDir, mib, rounds).then(
    () => finish(workDir, 0),
    (error: unknown) => finish(workDir, 1, (error as Error).message),
  );
}

start();
