import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { startTestGuard, type TestGuard } from './guard-harness.ts';
import type { TestPostgres } from './postgres-server.ts';

// Helpers for tests of the database tunnel: a guard whose tunnel points at a
// server, clients that go through it, and a look at the guard's metrics.

export type TunnelGuard = TestGuard & { tunnelPort: number };

export async function startTunnelGuard(
  upstreamUrl: string,
  dbTunnel: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): Promise<TunnelGuard> {
  const guard = await startTestGuard(upstreamUrl, {
    dbTunnel: { listen: '127.0.0.1:0', ...dbTunnel },
    ...overrides,
  });
  const tunnelPort = guard.guard.ports.dbTunnel;
  if (tunnelPort === undefined) throw new Error('the guard started no tunnel');
  return Object.assign(guard, { tunnelPort });
}

/** A node-postgres client aimed at the tunnel, in plaintext as the app would be. */
export function tunnelClient(pgServer: TestPostgres, tunnelPort: number): pg.Client {
  return new pg.Client({
    host: '127.0.0.1',
    port: tunnelPort,
    user: pgServer.user,
    password: pgServer.password,
    database: pgServer.database,
    ssl: false,
    connectionTimeoutMillis: 20_000,
  });
}

export type PsqlResult = { code: number; stdout: string; stderr: string };

/** Debian's psql against the tunnel; the password travels in the environment. */
export function psqlThrough(
  pgServer: TestPostgres,
  tunnelPort: number,
  args: string[],
  options: { sslmode?: string; input?: string | Buffer } = {},
): Promise<PsqlResult> {
  const url =
    `postgresql://${pgServer.user}@127.0.0.1:${tunnelPort}/${pgServer.database}` +
    `?sslmode=${options.sslmode ?? 'prefer'}&connect_timeout=20`;
  return new Promise((resolve) => {
    const child = execFile(
      'psql',
      [url, '-X', '-v', 'ON_ERROR_STOP=1', '-tA', ...args],
      {
        env: { ...process.env, PGPASSWORD: pgServer.password },
        timeout: 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) || 1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
    // psql may exit before reading its input (a refused login).
    child.stdin?.on('error', () => undefined);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** A protocol 3.0 StartupMessage, as every driver sends it first. */
export function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
  const header = Buffer.alloc(8);
  header.writeInt32BE(body.length + 8, 0);
  header.writeInt32BE(196608, 4);
  return Buffer.concat([header, body]);
}

/** Opens a raw TCP connection to the tunnel and collects what comes back. */
export function rawTunnelSocket(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
  });
  return {
    socket,
    received: () => received,
    closed: () => closed,
    /** Waits until at least `bytes` came back, or the connection closed. */
    async waitFor(bytes: number, timeoutMs = 10_000): Promise<Buffer> {
      await pollFor(() => received.length >= bytes || closed, timeoutMs);
      return received;
    },
  };
}

export async function pollFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The value of one sample in the guard's /metrics, 0 when it is absent. */
export async function readSample(guard: TestGuard, sample: string): Promise<number> {
  const response = await fetch(`${guard.adminUrl}/metrics`);
  const text = await response.text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** Polls a metric until it reaches `expected` (or the deadline passes) and returns it. */
export async function waitForSample(
  guard: TestGuard,
  sample: string,
  expected: number,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await readSample(guard, sample);
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await readSample(guard, sample);
  }
  return value;
}
