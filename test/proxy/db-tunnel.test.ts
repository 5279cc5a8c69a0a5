import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import {
  pollFor,
  psqlThrough,
  rawTunnelSocket,
  readSample,
  startTunnelGuard,
  startupMessage,
  type TunnelGuard,
  tunnelClient,
  waitForSample,
} from '../support/db-tunnel-harness.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { createTestCa } from '../support/test-ca.ts';

// The app's side of the tunnel against a real PostgreSQL that takes TLS
// connections only (hostssl): real drivers in plaintext on loopback, the
// server seeing every session encrypted.

const ca = createTestCa('tunnel-ca');
let server: TestPostgres;
let app: OcommsDouble;
let guard: TunnelGuard;
const clients: pg.Client[] = [];

beforeAll(async () => {
  server = await startTestPostgres({ tls: ca.issue('localhost', ['localhost', '127.0.0.1']) });
  app = await startOcommsDouble();
  guard = await startTunnelGuard(app.url, {
    target: `127.0.0.1:${server.port}`,
    serverName: 'localhost',
    tls: { ca: ca.certPath },
  });
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  await guard?.close();
  await app?.close();
  server?.close();
});

async function connected(): Promise<pg.Client> {
  const client = tunnelClient(server, guard.tunnelPort);
  clients.push(client);
  await client.connect();
  return client;
}

const sessionIsTls = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';

describe('database tunnel with a TLS-only server', () => {
  it('carries node-postgres queries, and the server sees the session encrypted', async () => {
    const client = await connected();
    const result = await client.query('select $1::int + 1 as sum', [41]);
    expect(result.rows).toEqual([{ sum: 42 }]);
    expect((await client.query(sessionIsTls)).rows).toEqual([{ ssl: true }]);
    await client.end();
  });

  it('carries psql, whose SSLRequest on the plaintext side is answered N', async () => {
    for (const sslmode of ['prefer', 'disable']) {
      const result = await psqlThrough(server, guard.tunnelPort, ['-c', sessionIsTls], {
        sslmode,
      });
      expect(result.stderr).toBe('');
      expect(result).toMatchObject({ code: 0, stdout: 't\n' });
    }
    // A client that insists on TLS to the tunnel is told it is not there.
    const insisting = await psqlThrough(server, guard.tunnelPort, ['-c', 'select 1'], {
      sslmode: 'require',
    });
    expect(insisting.code).not.toBe(0);
    expect(insisting.stderr).toMatch(/does not support SSL/);
  });

  it('answers GSSENCRequest and SSLRequest with N, then relays the startup', async () => {
    const raw = rawTunnelSocket(guard.tunnelPort);
    const gss = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
    const ssl = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    raw.socket.write(gss);
    expect((await raw.waitFor(1)).toString('latin1')).toBe('N');
    raw.socket.write(ssl);
    expect((await raw.waitFor(2)).toString('latin1')).toBe('NN');
    raw.socket.write(startupMessage(server.user, server.database));
    const answer = await raw.waitFor(3);
    // 'R' with code 10: the server asks for SCRAM, so the startup got through.
    expect(answer.subarray(2, 3).toString('latin1')).toBe('R');
    expect(answer.readInt32BE(7)).toBe(10);
    raw.socket.destroy();
  });

  it('moves a large COPY both ways byte for byte with node-postgres', async () => {
    const client = await connected();
    await client.query('create table copy_pg (id int primary key, payload text)');
    const rows = 120_000;
    const lines: string[] = [];
    for (let id = 1; id <= rows; id += 1) {
      lines.push(`${id}\t${randomBytes(96).toString('hex')}\n`);
    }
    const sent = Buffer.from(lines.join(''), 'utf8');
    expect(sent.length).toBeGreaterThan(20 * 1024 * 1024);
    await pipeline(Readable.from([sent]), client.query(copyFrom('copy copy_pg from stdin')));

    const hash = createHash('sha256');
    let received = 0;
    const out = client.query(copyTo('copy (select * from copy_pg order by id) to stdout'));
    for await (const chunk of out as AsyncIterable<Buffer>) {
      hash.update(chunk);
      received += chunk.length;
    }
    expect(received).toBe(sent.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(sent).digest('hex'));
    await client.end();
  });

  it('moves a large COPY with psql', async () => {
    await psqlThrough(server, guard.tunnelPort, ['-c', 'create table copy_psql (line text)']);
    const lines: string[] = [];
    for (let index = 0; index < 200_000; index += 1) lines.push(`line-${index}-${'x'.repeat(80)}`);
    const input = `${lines.join('\n')}\n`;
    const loaded = await psqlThrough(
      server,
      guard.tunnelPort,
      ['-c', '\\copy copy_psql from stdin'],
      { input },
    );
    expect(loaded.stderr).toBe('');
    const copied = await psqlThrough(server, guard.tunnelPort, ['-c', 'copy copy_psql to stdout']);
    expect(copied.code).toBe(0);
    expect(copied.stdout.length).toBe(input.length);
    expect(createHash('sha256').update(copied.stdout).digest('hex')).toBe(
      createHash('sha256').update(input).digest('hex'),
    );
  });

  it('serves 100 concurrent connections while the HTTPS proxy keeps answering', async () => {
    const before = await readSample(guard, 'guard_db_tunnel_connections_total');
    const gone = 'guard_db_tunnel_failures_total{reason="client_gone"}';
    const goneBefore = await readSample(guard, gone);
    const sessions = Array.from({ length: 100 }, async (_, index) => {
      const client = tunnelClient(server, guard.tunnelPort);
      await client.connect();
      try {
        const result = await client.query('select pg_sleep(0.3), $1::int as n', [index]);
        return result.rows[0]?.n as number;
      } finally {
        await client.end();
      }
    });
    const pages = Array.from({ length: 20 }, async () => {
      const response = await request(`${guard.url}/login`, { dispatcher: guard.agent });
      await response.body.dump();
      return response.statusCode;
    });
    const [numbers, statuses] = await Promise.all([Promise.all(sessions), Promise.all(pages)]);
    expect(numbers.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(await readSample(guard, 'guard_db_tunnel_connections_total')).toBeGreaterThanOrEqual(
      before + 100,
    );
    expect(await waitForSample(guard, 'guard_db_tunnel_connections_open', 0)).toBe(0);
    // Each driver said Terminate before closing: orderly, not counted as failures.
    expect(await readSample(guard, gone)).toBe(goneBefore);
  });

  it('ends the server session of a client that vanishes, and no other', async () => {
    const gone = 'guard_db_tunnel_failures_total{reason="client_gone"}';
    const before = await readSample(guard, gone);
    const bystander = await connected();
    const leaving = await connected();
    const pid = (await leaving.query('select pg_backend_pid() as pid')).rows[0]?.pid as number;
    // The driver's socket is cut without a Terminate message, as when the
    // app's process dies.
    (
      leaving as unknown as { connection: { stream: { destroy(): void } } }
    ).connection.stream.destroy();
    leaving.on('error', () => undefined);
    await pollFor(
      () => server.psql(`select count(*) from pg_stat_activity where pid = ${pid}`).trim() === '0',
    );
    expect(await waitForSample(guard, gone, before + 1)).toBe(before + 1);
    expect((await bystander.query('select 7 as n')).rows).toEqual([{ n: 7 }]);
  });

  it('closes the client when the server ends its session, and no other', async () => {
    const dropped = 'guard_db_tunnel_failures_total{reason="server_dropped"}';
    const before = await readSample(guard, dropped);
    const bystander = await connected();
    const victim = await connected();
    const failed = new Promise<Error>((resolve) => victim.on('error', resolve));
    const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0]?.pid as number;
    server.psql(`select pg_terminate_backend(${pid})`);
    expect((await failed).message).toMatch(/terminat/i);
    expect(await waitForSample(guard, dropped, before + 1)).toBe(before + 1);
    expect((await bystander.query('select 8 as n')).rows).toEqual([{ n: 8 }]);
  });

  it('closes a client that starts TLS or garbage on the plaintext side, and no other', async () => {
    const bystander = await connected();
    const samples = ['client_tls', 'client_protocol', 'client_gone'].map(
      (reason) => `guard_db_tunnel_failures_total{reason="${reason}"}`,
    );
    const before = await Promise.all(samples.map((sample) => readSample(guard, sample)));

    const hello = rawTunnelSocket(guard.tunnelPort);
    hello.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]));
    const garbage = rawTunnelSocket(guard.tunnelPort);
    garbage.socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]));
    const leaver = rawTunnelSocket(guard.tunnelPort);
    await pollFor(() => leaver.socket.readyState === 'open');
    leaver.socket.destroy();
    await pollFor(() => hello.closed() && garbage.closed());
    expect(hello.received().length + garbage.received().length).toBe(0);

    for (const [index, sample] of samples.entries()) {
      const expected = (before[index] ?? 0) + 1;
      expect(await waitForSample(guard, sample, expected)).toBe(expected);
    }
    expect((await bystander.query('select 9 as n')).rows).toEqual([{ n: 9 }]);
  });

  it('counts bytes both ways and logs no credentials', async () => {
    const client = await connected();
    await client.query('select 1');
    await client.end();
    expect(
      await readSample(guard, 'guard_db_tunnel_bytes_total{direction="to_server"}'),
    ).toBeGreaterThan(0);
    expect(
      await readSample(guard, 'guard_db_tunnel_bytes_total{direction="to_client"}'),
    ).toBeGreaterThan(0);
    expect(guard.logText()).toContain('db tunnel listening');
    expect(guard.logText()).not.toContain(server.password);
  });
});
