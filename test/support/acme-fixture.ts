import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { isGuardError } from '../../common/errors.ts';
import type { GuardOptions } from '../../proxy/guard.ts';
import { lowRange, startOnSomePort } from './free-port-retry.ts';
import { startTestGuard, type TestGuard } from './guard-harness.ts';
import { type PebbleOptions, startTestPebble, type TestPebble } from './pebble-server.ts';
import { waitFor } from './wait-for.ts';

export type AcmeFixtureOptions = Omit<PebbleOptions, 'httpPort' | 'tlsPort'> & {
  /** More configuration for every guard (for example `store`). */
  readonly guardConfig?: Record<string, unknown>;
};

export type AcmeFixture = {
  readonly pebble: TestPebble;
  /** One data directory for every guard this fixture starts (restarts reuse it). */
  readonly dataDir: string;
  readonly upstreamUrl: string;
  /** Requests the app behind the guard has received. */
  upstreamRequests(): number;
  /** The guard's plain-HTTP and HTTPS ports (the ones Pebble validates). */
  ports(): { http: number; https: number };
  /** Starts a guard on the ports Pebble validates, with tls.mode acme. */
  startGuard(acme?: Record<string, unknown>, options?: GuardOptions): Promise<TestGuard>;
  /**
   * Another guard for the same names with its own data directory and ports
   * (Pebble does not validate there); start the first guard before.
   */
  startPeer(acme?: Record<string, unknown>, options?: GuardOptions): Promise<TestGuard>;
  /** Waits until every certificate of the guard is issued; on timeout, shows its ACME log. */
  waitReady(guard: TestGuard, timeoutMs?: number): Promise<void>;
  /** A TLS connection to the guard for `name` (or to `port`), verified against Pebble's root. */
  connectTls(name: string, port?: number): Promise<TLSSocket>;
  close(): Promise<void>;
};

// Pebble must know the guard's ports before the guard starts (they are where
// it validates), so the guard gets fixed random ports, kept across restarts.
export async function startAcmeFixture(
  fixtureOptions: AcmeFixtureOptions = {},
): Promise<AcmeFixture> {
  const { guardConfig = {}, ...options } = fixtureOptions;
  const dataDir = mkdtempSync(join(tmpdir(), 'guard-acme-'));
  let upstreamRequests = 0;
  const upstream = createServer((_req, res) => {
    upstreamRequests += 1;
    res.end('app');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  const guards: TestGuard[] = [];
  let ports = { http: 0, https: 0 };
  let pebble: TestPebble | undefined;

  const launch = async (
    acme: Record<string, unknown>,
    server: TestPebble,
    opts: GuardOptions,
    peer = false,
  ) => {
    const listen = peer
      ? { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' }
      : {
          https: `127.0.0.1:${ports.https}`,
          http: `127.0.0.1:${ports.http}`,
          admin: '127.0.0.1:0',
        };
    const guard = await startTestGuard(
      upstreamUrl,
      {
        ...guardConfig,
        ...(peer ? {} : { dataDir }),
        listen,
        tls: {
          mode: 'acme',
          domains: ['guard.test'],
          acme: {
            directoryUrl: server.directoryUrl,
            caBundle: server.caBundlePath,
            acceptTermsOfService: true,
            email: 'ops@guard.test',
            ...acme,
          },
        },
      },
      opts,
    );
    guards.push(guard);
    return guard;
  };

  // The first guard decides the ports: when they are taken, Pebble is
  // started again with other ones.
  const startFirst = (acme: Record<string, unknown>, opts: GuardOptions) =>
    startOnSomePort(
      async (port) => {
        ports = { http: port, https: port + 1 };
        const started = await startTestPebble({ ...options, httpPort: port, tlsPort: port + 1 });
        try {
          const guard = await launch(acme, started, opts);
          pebble = started;
          return guard;
        } catch (error) {
          await started.close();
          if (isGuardError(error) && error.code === 'GUARD_ERR_LISTEN') return 'port-taken';
          throw error;
        }
      },
      20,
      lowRange,
    );
  const running = (): TestPebble => {
    if (!pebble) throw new Error('start a guard first');
    return pebble;
  };

  return {
    get pebble() {
      return running();
    },
    dataDir,
    upstreamUrl,
    upstreamRequests: () => upstreamRequests,
    ports: () => ports,
    startGuard: (acme = {}, opts = {}) =>
      pebble ? launch(acme, pebble, opts) : startFirst(acme, opts),
    startPeer: (acme = {}, opts = {}) => launch(acme, running(), opts, true),
    waitReady: (guard, timeoutMs = 60_000) =>
      waitFor(
        () => guard.guard.acme?.ready() === true,
        timeoutMs,
        100,
        () =>
          guard.logs
            .filter((line) => line.component === 'tls')
            .map((line) => JSON.stringify(line))
            .join('\n'),
      ),
    async connectTls(name, port = ports.https) {
      const ca = await running().issuerRoot();
      return new Promise((resolve, reject) => {
        const socket = tlsConnect(
          {
            host: '127.0.0.1',
            port,
            servername: name,
            ca,
            ALPNProtocols: ['http/1.1'],
          },
          () => resolve(socket),
        );
        socket.once('error', reject);
      });
    },
    async close() {
      for (const guard of guards) await guard.close().catch(() => undefined);
      await pebble?.close();
      await new Promise((resolve) => (upstream as Server).close(resolve));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
