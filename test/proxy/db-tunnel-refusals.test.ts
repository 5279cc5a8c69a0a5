import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
import { authenticationOk, type FakePgServer, startFakePgServer } from '../support/fake-pg-tls.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { createTestCa } from '../support/test-ca.ts';

// Every way the server side can fail verification or negotiation ends that
// connection with a PostgreSQL error naming the guard's code, a counted reason
// and a log line, while the guard's HTTPS proxy goes on serving.

const ca = createTestCa('tunnel-ca');
const otherCa = createTestCa('other-ca');
const localhostLeaf = ca.issue('localhost', ['localhost', '127.0.0.1']);
let tlsServer: TestPostgres;
let plainServer: TestPostgres;
let app: OcommsDouble;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const guards: TunnelGuard[] = [];

beforeAll(async () => {
  [tlsServer, plainServer, app] = await Promise.all([
    startTestPostgres({ tls: localhostLeaf }),
    startTestPostgres({ tls: false }),
    startOcommsDouble(),
  ]);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  // No log line of any guard in this file carries a database password.
  for (const guard of guards) {
    expect(guard.logText()).not.toContain(tlsServer.password);
    expect(guard.logText()).not.toContain(plainServer.password);
  }
  await app?.close();
  tlsServer?.close();
  plainServer?.close();
});

async function tunnelTo(dbTunnel: Record<string, unknown>): Promise<TunnelGuard> {
  const guard = await startTunnelGuard(app.url, { tls: { ca: ca.certPath }, ...dbTunnel });
  guards.push(guard);
  cleanups.push(() => guard.close());
  return guard;
}

async function fake(...args: Parameters<typeof startFakePgServer>): Promise<FakePgServer> {
  const server = await startFakePgServer(...args);
  cleanups.push(() => server.close());
  return server;
}

/** Connects node-postgres through the tunnel and returns the error it gets. */
async function refusal(guard: TunnelGuard, server: TestPostgres = tlsServer): Promise<string> {
  const client = tunnelClient(server, guard.tunnelPort);
  client.on('error', () => undefined);
  const error = await client.connect().then(
    () => new Error('connected'),
    (failure: Error) => failure,
  );
  await client.end().catch(() => undefined);
  return error.message;
}

async function expectCounted(guard: TunnelGuard, reason: string): Promise<void> {
  const sample = `guard_db_tunnel_failures_total{reason="${reason}"}`;
  expect(await waitForSample(guard, sample, 1)).toBe(1);
  const line = guard.logs.find((entry) => entry.msg === 'db tunnel connection failed');
  expect(line).toMatchObject({ reason, component: 'db-tunnel' });
}

async function expectProxyServing(guard: TunnelGuard): Promise<void> {
  const response = await request(`${guard.url}/login`, { dispatcher: guard.agent });
  await response.body.dump();
  expect(response.statusCode).toBe(200);
}

describe('database tunnel refusals', () => {
  it('refuses a server certificate from another CA', async () => {
    const guard = await tunnelTo({
      target: `127.0.0.1:${tlsServer.port}`,
      serverName: 'localhost',
      tls: { ca: otherCa.certPath },
    });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_VERIFY/);
    await expectCounted(guard, 'tls_verify');
    // The guard's own start is a security event too: pick the tunnel's.
    const event = guard.logs
      .filter((entry) => entry.msg === 'security event')
      .map((entry) => entry.event as { type?: string })
      .find((entry) => entry.type !== 'guard.started');
    expect(event).toMatchObject({
      type: 'db_tunnel.server_rejected',
      outcome: 'denied',
      details: { reason: 'tls_verify', serverName: 'localhost' },
    });
    const psql = await psqlThrough(tlsServer, guard.tunnelPort, ['-c', 'select 1']);
    expect(psql.code).not.toBe(0);
    expect(psql.stderr).toMatch(/GUARD_ERR_DB_TUNNEL_VERIFY/);
    await expectProxyServing(guard);
  });

  it('refuses a certificate that does not name the configured server', async () => {
    const guard = await tunnelTo({
      target: `127.0.0.1:${tlsServer.port}`,
      serverName: 'db.example.com',
    });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_VERIFY/);
    await expectCounted(guard, 'tls_verify');
    const line = guard.logs.find((entry) => entry.msg === 'db tunnel connection failed');
    expect(line?.cause).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('refuses a certificate from the right CA issued for another name', async () => {
    const server = await fake(
      { kind: 'answer', bytes: Buffer.from('S') },
      ca.issue('other', ['other.example']),
    );
    const guard = await tunnelTo({ target: `127.0.0.1:${server.port}`, serverName: 'localhost' });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_VERIFY/);
    await expectCounted(guard, 'tls_verify');
    // Nothing of the client's session reached the server.
    expect(server.secureBytes().length).toBe(0);
  });

  it('presents the configured client certificate to a server that requires one', async () => {
    const clientCa = createTestCa('client-ca');
    const server = await startTestPostgres({ tls: localhostLeaf, clientCaPath: clientCa.certPath });
    cleanups.push(() => server.close());
    const target = { target: `127.0.0.1:${server.port}`, serverName: 'localhost' };
    const without = await tunnelTo(target);
    expect(await refusal(without, server)).toMatch(/certificate/i);

    // verify-full: the certificate must come from the server's client CA and
    // name the user it logs in as.
    const leaf = clientCa.issue(server.user, [server.user]);
    const withCert = await tunnelTo({
      ...target,
      tls: { ca: ca.certPath, cert: leaf.certPath, key: leaf.keyPath },
    });
    const client = tunnelClient(server, withCert.tunnelPort);
    await client.connect();
    const result = await client.query(
      'select ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()',
    );
    expect(result.rows).toEqual([{ ssl: true, client_dn: `/CN=${server.user}` }]);
    await client.end();
  });

  it('refuses a server without TLS, which answers N', async () => {
    const guard = await tunnelTo({ target: `127.0.0.1:${plainServer.port}` });
    expect(await refusal(guard, plainServer)).toMatch(/GUARD_ERR_DB_TUNNEL_NO_TLS/);
    await expectCounted(guard, 'server_no_tls');
    await expectProxyServing(guard);
  });

  it('refuses a server that sends bytes after S (CVE-2021-23222)', async () => {
    const server = await fake({ kind: 'answer', bytes: Buffer.from('SZ') }, localhostLeaf);
    const guard = await tunnelTo({ target: `127.0.0.1:${server.port}`, serverName: 'localhost' });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_NO_TLS/);
    await expectCounted(guard, 'server_protocol');
    // The server saw the SSLRequest and nothing else: no startup in clear.
    expect(server.plainBytes().toString('hex')).toBe('0000000804d2162f');
  });

  it('answers at once when the server refuses the connection', async () => {
    // Port 1 (tcpmux) is served by nothing here, and unlike a port closed by
    // the test, no other test can have taken it meanwhile.
    const guard = await tunnelTo({ target: '127.0.0.1:1' });
    const started = Date.now();
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_CONNECT/);
    expect(Date.now() - started).toBeLessThan(5000);
    await expectCounted(guard, 'connect_refused');
    const line = guard.logs.find((entry) => entry.msg === 'db tunnel connection failed');
    expect(line?.cause).toBe('ECONNREFUSED');
  });

  it('gives up on a server that never answers after connectTimeoutMs', async () => {
    const server = await fake({ kind: 'silent' }, localhostLeaf);
    const guard = await tunnelTo({ target: `127.0.0.1:${server.port}`, connectTimeoutMs: 500 });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_CONNECT/);
    await expectCounted(guard, 'connect_timeout');
  });

  it('speaks direct TLS with ALPN postgresql when configured', async () => {
    const server = await fake({ kind: 'direct', selectAlpn: true }, localhostLeaf);
    const guard = await tunnelTo({
      target: `127.0.0.1:${server.port}`,
      serverName: 'localhost',
      negotiation: 'direct',
    });
    const client = rawTunnelSocket(guard.tunnelPort);
    const startup = startupMessage('guard', 'guard');
    client.socket.write(startup);
    expect(await client.waitFor(authenticationOk.length)).toEqual(authenticationOk);
    expect(server.hello).toEqual({ protocols: ['postgresql'], servername: 'localhost' });
    // No SSLRequest first: the startup message is the first thing inside TLS.
    expect(server.secureBytes()).toEqual(startup);
    client.socket.destroy();
  });

  it('refuses a direct TLS server that does not select ALPN postgresql', async () => {
    const server = await fake({ kind: 'direct', selectAlpn: false }, localhostLeaf);
    const guard = await tunnelTo({
      target: `127.0.0.1:${server.port}`,
      serverName: 'localhost',
      negotiation: 'direct',
    });
    expect(await refusal(guard)).toMatch(/GUARD_ERR_DB_TUNNEL_NO_TLS/);
    await expectCounted(guard, 'alpn');
  });

  it('cuts tunnelled connections and stops listening when the guard stops', async () => {
    const server = await fake({ kind: 'direct', selectAlpn: true }, localhostLeaf);
    const guard = await startTunnelGuard(app.url, {
      target: `127.0.0.1:${server.port}`,
      serverName: 'localhost',
      negotiation: 'direct',
      tls: { ca: ca.certPath },
    });
    const client = rawTunnelSocket(guard.tunnelPort);
    client.socket.write(startupMessage('guard', 'guard'));
    await client.waitFor(authenticationOk.length);
    await guard.close();
    await pollFor(() => client.closed());
    const late = rawTunnelSocket(guard.tunnelPort);
    await pollFor(() => late.closed());
    expect(late.received().length).toBe(0);
    expect(guard.logText()).toContain('guard stopped');
  });

  it('closes connections beyond maxConnections and counts them', async () => {
    const server = await fake({ kind: 'silent' }, localhostLeaf);
    const guard = await tunnelTo({ target: `127.0.0.1:${server.port}`, maxConnections: 2 });
    const held = [rawTunnelSocket(guard.tunnelPort), rawTunnelSocket(guard.tunnelPort)];
    await waitForSample(guard, 'guard_db_tunnel_connections_open', 2);
    const extra = rawTunnelSocket(guard.tunnelPort);
    await extra.waitFor(1);
    expect(extra.closed()).toBe(true);
    expect(await waitForSample(guard, 'guard_db_tunnel_failures_total{reason="limit"}', 1)).toBe(1);
    expect(await readSample(guard, 'guard_db_tunnel_connections_open')).toBe(2);
    for (const socket of held) socket.socket.destroy();
  });
});
