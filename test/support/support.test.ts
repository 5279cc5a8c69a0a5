import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from './postgres-server.ts';
import { startTestRedis, type TestRedis } from './redis-server.ts';
import { createTestCa } from './test-ca.ts';

const { Client } = pg;

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      resolve(data.toString());
      socket.end();
    });
    socket.once('error', reject);
  });
}

describe('test redis', () => {
  let redis: TestRedis | undefined;
  afterAll(() => redis?.close());

  it('starts, stops and restarts on the same port', async () => {
    redis = await startTestRedis();
    expect(await ping(redis.port)).toBe('+PONG\r\n');
    await redis.stop();
    await expect(ping(redis.port)).rejects.toThrow(/ECONNREFUSED/);
    await redis.restart();
    expect(await ping(redis.port)).toBe('+PONG\r\n');
  });
});

function pingTls(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, ca, servername: 'localhost' };
    const socket = connectTls(options, () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      resolve(data.toString());
      socket.end();
    });
    socket.once('error', reject);
  });
}

describe('test redis with TLS', () => {
  let redis: TestRedis | undefined;
  afterAll(() => redis?.close());

  it('speaks TLS only, with a certificate from its CA, and asks for the password', async () => {
    redis = await startTestRedis({ tls: {}, password: 's3cret' });
    expect(redis.url).toBe(`rediss://localhost:${redis.port}`);
    const ca = readFileSync(redis.caPath ?? '');
    expect(await pingTls(redis.port, ca)).toMatch(/^-NOAUTH/);
    // A plaintext PING gets no Redis answer: the server waits for a TLS hello.
    await expect(ping(redis.port)).rejects.toThrow();
    await redis.restart();
    expect(await pingTls(redis.port, ca)).toMatch(/^-NOAUTH/);
  });
});

describe('test postgres', () => {
  const ca = createTestCa('pg-ca');
  const leaf = ca.issue('localhost', ['localhost', '127.0.0.1']);
  let pg: TestPostgres | undefined;
  afterAll(() => pg?.close());

  it('takes TLS connections only, verified against its CA', async () => {
    pg = await startTestPostgres({ tls: leaf });
    const verified = new Client({
      connectionString: pg.url('localhost'),
      ssl: { ca: readFileSync(ca.certPath), servername: 'localhost' },
    });
    await verified.connect();
    const result = await verified.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    expect(result.rows[0]).toEqual({ ssl: true });
    await verified.end();
    const plain = new Client({ connectionString: pg.url(), ssl: false });
    await expect(plain.connect()).rejects.toThrow(/no pg_hba.conf entry|SSL off/);
    expect(pg.psql('select 1 + 1')).toBe('2\n');
    pg.stop();
    pg.start();
    expect(pg.psql('select 2 + 2')).toBe('4\n');
  });
});
