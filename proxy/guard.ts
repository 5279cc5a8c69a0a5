import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AcmeManager } from '../acme/acme-manager.ts';
import { CertificateStore } from '../acme/cert-store.ts';
import { withHttpChallenges } from '../acme/http-challenge.ts';
import { createLogEvents } from '../audit/security-events.ts';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { parseListenAddress } from '../config/units.ts';
import { createStore, type GuardStore } from '../policies/store.ts';
import { createAdminServer } from './admin.ts';
import { createClientErrorHandler } from './client-errors.ts';
import type { GuardRuntime } from './context.ts';
import { type DbTunnel, startDbTunnel } from './db-tunnel.ts';
import { createUpstream } from './forward.ts';
import { createHttpHandler } from './http-handler.ts';
import { listenOn } from './listen.ts';
import { createMetrics } from './metrics.ts';
import { buildPolicies } from './policies.ts';
import { tlsProtocolOptions } from './tls-options.ts';
import { startTlsSource, type TlsSource, type TlsSourceContext } from './tls-source.ts';
import { createUpgradeHandler, type UpgradeTracker } from './upgrade.ts';

export type Guard = {
  readonly ports: { https: number; http?: number; admin?: number; dbTunnel?: number };
  readonly caCertPath: string | undefined;
  readonly runtime: GuardRuntime;
  readonly acme: AcmeManager | undefined;
  reloadCertificates(): void;
  close(): Promise<void>;
};

export type GuardOptions = { readonly now?: () => number };

export async function startGuard(
  config: Config,
  logger: Logger,
  options: GuardOptions = {},
): Promise<Guard> {
  const metrics = createMetrics();
  const store = new CertificateStore();
  const events = createLogEvents(logger.child({ component: 'audit' }));
  const policyStore = createStore(config.store, logger, metrics.registry);
  const tlsSource = openTlsSource(config, store, logger, {
    events,
    registry: metrics.registry,
    now: options.now,
    sharedStore: policyStore,
  });
  const challenges = tlsSource.acme?.challenges;
  const fallback = store.fallback;
  if (!fallback) throw new Error('no certificate installed');

  const ca = config.upstream.ca ? readFileSync(config.upstream.ca) : undefined;
  const services = { store: policyStore, registry: metrics.registry, logger };
  const runtime: GuardRuntime = {
    policies: buildPolicies(config, services),
    store: policyStore,
    upstream: createUpstream(config.upstream, ca),
    metrics,
    logger: logger.child({ component: 'proxy' }),
    events,
    httpsPublicPort: 443,
    closing: false,
    certificates: tlsSource.acme,
  };
  const upgrades: UpgradeTracker = { connections: new Set() };
  const serverOptions = {
    maxHeaderSize: config.limits.maxHeaderBytes,
    requestTimeout: config.limits.requestTimeoutMs,
    headersTimeout: config.limits.headersTimeoutMs,
    keepAliveTimeout: config.limits.keepAliveTimeoutMs,
    // Node checks header and request deadlines on this sweep (30 s by
    // default), which would let slow-header clients hold sockets far longer.
    connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutMs),
    // The guard refuses a missing Host itself, with its JSON answer and headers.
    requireHostHeader: false,
  };

  const handleHttps = createHttpHandler(runtime, 'https');
  const https = createHttpsServer(
    {
      ...tlsProtocolOptions,
      ...serverOptions,
      cert: fallback.pair.cert,
      key: fallback.pair.key,
      // TLS-ALPN-01 (RFC 8737): validation handshakes ask for acme-tls/1.
      ...(challenges
        ? { ALPNCallback: challenges.selectProtocol.bind(challenges) }
        : { ALPNProtocols: ['http/1.1'] }),
      SNICallback: (name, done) =>
        done(null, challenges?.contextForHandshake(name) ?? store.lookup(name)?.context),
    },
    handleHttps,
  );
  const handleUpgrade = createUpgradeHandler(runtime, upgrades);
  https.on('upgrade', handleUpgrade);
  // Without these listeners Node drops a CONNECT silently and answers an
  // unknown Expect with its own bare 417; the guard refuses both itself.
  https.on('connect', handleUpgrade);
  https.on('checkExpectation', handleHttps);
  https.on('clientError', createClientErrorHandler(runtime, true));
  https.on('tlsClientError', () => metrics.clientErrors.inc({ reason: 'tls_handshake' }));
  store.onInstall((installed) => {
    for (const name of installed.names) {
      metrics.certificateExpiry.set({ name }, installed.notAfter.getTime() / 1000);
    }
    const current = store.fallback;
    if (current) https.setSecureContext({ ...tlsProtocolOptions, ...current.pair });
  });
  for (const name of fallback.names) {
    metrics.certificateExpiry.set({ name }, fallback.notAfter.getTime() / 1000);
  }

  const servers: Server[] = [https];
  const ports: Guard['ports'] = { https: 0 };
  // Header counts are checked by the guard itself (431), so the parser must
  // keep every header instead of silently dropping those past its limit.
  https.maxHeadersCount = 0;
  ports.https = await listenOn(https, config.listen.https, 'listen.https');
  runtime.httpsPublicPort = config.listen.publicHttpsPort ?? ports.https;

  if (config.listen.http !== false) {
    const plain = createHttpHandler(runtime, 'http');
    const handlePlain = challenges ? withHttpChallenges(runtime, challenges, plain) : plain;
    const http = createHttpServer(serverOptions, handlePlain);
    http.on('checkExpectation', handlePlain);
    http.maxHeadersCount = 0;
    http.on('clientError', createClientErrorHandler(runtime, false));
    servers.push(http);
    ports.http = await listenOn(http, config.listen.http, 'listen.http');
  }
  if (config.listen.admin !== false) {
    const admin = createAdminServer(runtime);
    servers.push(admin);
    ports.admin = await listenOn(admin, config.listen.admin, 'listen.admin');
    if (!isLoopbackListen(config.listen.admin)) {
      logger.warn({ admin: config.listen.admin }, 'admin listener is reachable beyond loopback');
    }
  }
  let dbTunnel: DbTunnel | undefined;
  if (config.dbTunnel) {
    const tunnelLogger = logger.child({ component: 'db-tunnel' });
    const { events } = runtime;
    dbTunnel = await startDbTunnel(config.dbTunnel, metrics.dbTunnel, tunnelLogger, events);
    ports.dbTunnel = dbTunnel.port;
  }
  logger.info({ ports, upstream: runtime.upstream.origin.origin }, 'guard started');
  tlsSource.acme?.start();

  return {
    ports,
    caCertPath: tlsSource.caCertPath,
    runtime,
    acme: tlsSource.acme,
    reloadCertificates: () => tlsSource.reload(),
    // The app may need its database to finish in-flight requests, so the
    // tunnel closes after them.
    close: () =>
      shutdown(runtime, servers, upgrades, config, () => tlsSource.close()).then(() =>
        dbTunnel?.close(),
      ),
  };
}

// The store's connection is closed again when no certificate can be loaded.
function openTlsSource(
  config: Config,
  store: CertificateStore,
  logger: Logger,
  context: TlsSourceContext & { sharedStore: GuardStore },
): TlsSource {
  try {
    return startTlsSource(config, store, logger.child({ component: 'tls' }), context);
  } catch (error) {
    void context.sharedStore.close();
    throw error;
  }
}

function isLoopbackListen(address: string): boolean {
  const host = parseListenAddress(address)?.host;
  return host !== undefined && (host === '::1' || host === 'localhost' || host.startsWith('127.'));
}

// Stop accepting, let in-flight requests finish until the deadline, end
// WebSockets with a FIN rather than a reset, then cut what is left.
async function shutdown(
  runtime: GuardRuntime,
  servers: Server[],
  upgrades: UpgradeTracker,
  config: Config,
  closeTls: () => void,
): Promise<void> {
  if (runtime.closing) return;
  runtime.closing = true;
  closeTls();
  const closed = servers.map(
    (server) => new Promise<void>((resolve) => server.close(() => resolve())),
  );
  for (const connection of upgrades.connections) connection.closeGracefully();
  // Connections become idle as their last response ends; close them then.
  const sweep = setInterval(() => {
    for (const server of servers) server.closeIdleConnections();
  }, 100);
  for (const server of servers) server.closeIdleConnections();

  const deadline = new Promise<'deadline'>((resolve) => {
    setTimeout(resolve, config.limits.shutdownTimeoutMs, 'deadline').unref();
  });
  const outcome = await Promise.race([Promise.all(closed), deadline]);
  clearInterval(sweep);
  if (outcome === 'deadline') {
    for (const server of servers) server.closeAllConnections();
    for (const connection of upgrades.connections) connection.destroy();
  }
  await runtime.upstream.close();
  await runtime.store.close();
  runtime.logger.info({ outcome: outcome === 'deadline' ? 'forced' : 'drained' }, 'guard stopped');
}
