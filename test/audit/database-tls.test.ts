import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { waitFor } from '../support/audit-db.ts';
import { startTestGuard } from '../support/guard-harness.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { createTestCa } from '../support/test-ca.ts';

const unavailable = 'audit database unavailable: events wait in the spool';
const trusted = createTestCa('audit-trusted');
const stranger = createTestCa('audit-stranger');
let app: OcommsDouble;
const servers: TestPostgres[] = [];

beforeAll(async () => {
  app = await startOcommsDouble();
});
afterAll(async () => {
  await app.close();
  for (const server of servers) server.close();
});

async function postgresWith(tls: Parameters<typeof startTestPostgres>[0]['tls']) {
  const server = await startTestPostgres({ tls });
  servers.push(server);
  return server;
}

// Starts a guard against the server, emits one event and returns what it
// logged once the connection was refused (or the event stored).
async function refusal(server: TestPostgres, postgres: Record<string, unknown>) {
  const guard = await startTestGuard(app.url, {
    audit: { spool: { flushMs: 10 }, postgres: { url: server.url('localhost'), ...postgres } },
  });
  try {
    guard.guard.runtime.events.emit({ type: 'config.reloaded', outcome: 'info' });
    await waitFor(() => guard.logs.some((line) => line.msg === unavailable), 'a refusal');
    const line = guard.logs.find((entry) => entry.msg === unavailable);
    return { reason: line?.reason, code: line?.code };
  } finally {
    await guard.close();
  }
}

function tableExists(server: TestPostgres): boolean {
  return server.psql("select to_regclass('guard_audit_events') is not null").trim() === 't';
}

describe('audit database TLS', () => {
  it('refuses a server certificate from another CA', async () => {
    const server = await postgresWith(stranger.issue('localhost', ['localhost', '127.0.0.1']));
    const seen = await refusal(server, { tls: { ca: trusted.certPath } });
    expect(seen.reason).toBe('tls');
    expect(tableExists(server)).toBe(false);
  });

  it('refuses a certificate for another host name', async () => {
    const server = await postgresWith(trusted.issue('db.elsewhere.test', ['db.elsewhere.test']));
    const seen = await refusal(server, { tls: { ca: trusted.certPath } });
    expect(seen.reason).toBe('tls');
    expect(seen.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(tableExists(server)).toBe(false);
  });

  it('refuses a plaintext-only server', async () => {
    const server = await postgresWith(false);
    const seen = await refusal(server, { tls: { ca: trusted.certPath } });
    expect(seen.reason).toBe('tls');
    expect(tableExists(server)).toBe(false);
  });

  it('sends nothing but the TLS request to a server that will not do TLS', async () => {
    const received: Buffer[] = [];
    const fake: Server = createServer((socket) => {
      socket.on('data', (chunk) => {
        received.push(chunk);
        // "N": no TLS here. A client that goes on would send its start-up
        // message and then the password.
        if (received.length === 1) socket.write('N');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as { port: number }).port;
    const guard = await startTestGuard(app.url, {
      audit: {
        postgres: {
          url: `postgres://guard:planted-db-password@localhost:${port}/audit`,
          tls: { ca: trusted.certPath },
        },
      },
    });
    try {
      await waitFor(() => guard.logs.some((line) => line.msg === unavailable), 'a refusal');
      const bytes = Buffer.concat(received);
      // The SSLRequest: length 8, code 80877103.
      expect(bytes.subarray(0, 8).toString('hex')).toBe('0000000804d2162f');
      expect(bytes.toString('latin1')).not.toContain('planted-db-password');
      expect(bytes.toString('latin1')).not.toContain('guard');
    } finally {
      await guard.close();
      fake.close();
    }
  });

  it('connects to plaintext only with the insecure setting, and says so loudly', async () => {
    const server = await postgresWith(false);
    const guard = await startTestGuard(app.url, {
      audit: {
        spool: { flushMs: 10 },
        postgres: { url: server.url('localhost'), tls: { mode: 'disable' }, insecure: true },
      },
    });
    try {
      const loud = guard.logs.find(
        (line) => line.msg === 'audit database connection is not verified: insecure setting in use',
      );
      expect(loud?.level).toBe('error');
      expect(loud?.tlsMode).toBe('disable');
      await waitFor(
        () =>
          tableExists(server) &&
          server.psql('select count(*) from guard_audit_events').trim() !== '0',
        'the start event stored',
      );
    } finally {
      await guard.close();
    }
  });

  it('presents a client certificate when the server demands one', async () => {
    const clients = createTestCa('audit-clients');
    const server = await startTestPostgres({
      tls: trusted.issue('localhost', ['localhost', '127.0.0.1']),
      clientCaPath: clients.certPath,
    });
    servers.push(server);
    const without = await refusal(server, { tls: { ca: trusted.certPath } });
    expect(without.reason).toBe('auth');
    expect(tableExists(server)).toBe(false);

    // clientcert=verify-full: the certificate's name must be the user's.
    const client = clients.issue(server.user, [server.user]);
    const guard = await startTestGuard(app.url, {
      audit: {
        spool: { flushMs: 10 },
        postgres: {
          url: server.url('localhost'),
          tls: { ca: trusted.certPath, cert: client.certPath, key: client.keyPath },
        },
      },
    });
    try {
      await waitFor(
        () =>
          tableExists(server) &&
          server.psql('select count(*) from guard_audit_events').trim() !== '0',
        'the start event stored',
      );
    } finally {
      await guard.close();
    }
  });

  it('will not start with a weaker TLS mode unless told it is insecure', () => {
    const text = (mode: string, insecure: boolean) =>
      [
        'upstream: { url: "http://127.0.0.1:3000" }',
        'audit:',
        '  postgres:',
        '    url: "postgres://guard@db.example.com/audit"',
        `    tls: { mode: ${mode} }`,
        `    insecure: ${insecure}`,
      ].join('\n');
    for (const mode of ['verify-ca', 'require', 'disable']) {
      expect(() => parseConfigText(text(mode, false), 'weak.yaml')).toThrow(ConfigError);
      try {
        parseConfigText(text(mode, false), 'weak.yaml');
      } catch (error) {
        expect((error as ConfigError).problems[0]?.path).toBe('audit.postgres.tls.mode');
      }
      expect(parseConfigText(text(mode, true), 'weak.yaml').audit.postgres?.insecure).toBe(true);
    }
    expect(() =>
      parseConfigText(
        text('verify-full', false).replace('/audit"', '/audit?sslmode=disable"'),
        'query.yaml',
      ),
    ).toThrow(ConfigError);
  });
});
