import { resolve } from 'node:path';
import type { AcmeManager } from '../acme/acme-manager.ts';
import { CertificateStore } from '../acme/cert-store.ts';
import { createRedisSessionOwners } from '../audit/redis-session-owners.ts';
import { createMemorySessionOwners } from '../audit/session-owners.ts';
import { type AuditTrail, startAuditTrail } from '../audit/trail.ts';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import { createConfigWatch } from '../config/watch-file.ts';
import { createStore } from '../policies/store.ts';
import { createAccessLog } from './access-log.ts';
import { type AdminRoutes, json } from './admin.ts';
import { AdminToken, adminUrlFor, writeAdminAccess } from './admin-access.ts';
import { handleLockoutAdmin } from './admin-lockout.ts';
import { createReloadRoute } from './admin-reload.ts';
import { assemble } from './assemble.ts';
import { buildAuthRuntime } from './auth-runtime.ts';
import type { GuardRuntime } from './context.ts';
import { type DbTunnel, startDbTunnel } from './db-tunnel.ts';
import { isLoopbackListen, Listeners, type Ports } from './listeners.ts';
import { createMetrics } from './metrics.ts';
import { createReloader, type ReloadOutcome, type ReloadRequest } from './reload.ts';
import { SharedResources } from './shared-resources.ts';
import type { UpgradeTracker } from './upgrade.ts';

export type Guard = {
  /** The bound ports, updated when a reload moves a listener. */
  readonly ports: Readonly<Ports>;
  readonly caCertPath: string | undefined;
  readonly runtime: GuardRuntime;
  readonly acme: AcmeManager | undefined;
  /** Reads the configuration file again; certificates included. */
  reload(request: ReloadRequest): Promise<ReloadOutcome>;
  close(): Promise<void>;
};

export type GuardOptions = { readonly now?: () => number };

export async function startGuard(
  config: Config,
  logger: Logger,
  configFile: string,
  options: GuardOptions = {},
): Promise<Guard> {
  const proxyLogger = logger.child({ component: 'proxy' });
  const metrics = createMetrics();
  const certificates = new CertificateStore();
  certificates.onInstall((installed) => {
    for (const name of installed.names) {
      metrics.certificateExpiry.set({ name }, installed.notAfter.getTime() / 1000);
    }
  });
  // The shared store is made once: its settings (store) need a restart.
  const policyStore = createStore(config.store, logger, metrics.registry);
  // The audit trail is made once: its settings (audit) need a restart.
  const audit = startAuditTrail(config, logger.child({ component: 'audit' }), metrics.registry);
  const events = audit.events;
  // Built once, not on reload: the sign-in policies keep counters and a key.
  const auth = buildAuthRuntime(config, {
    registry: metrics.registry,
    events,
    logger: logger.child({ component: 'auth' }),
    store: policyStore,
  });
  const services = {
    auth,
    certificates,
    store: policyStore,
    registry: metrics.registry,
    logger,
    events,
    now: options.now,
  };
  const resources = new SharedResources(proxyLogger);
  const generation = resources.begin();
  let assembly: ReturnType<typeof assemble>;
  try {
    assembly = assemble(config, generation, services);
  } catch (error) {
    await generation.abort();
    await policyStore.close();
    await audit.close(0);
    throw error;
  }
  const runtime: GuardRuntime = {
    policies: assembly.policies,
    store: policyStore,
    upstream: assembly.upstream,
    metrics,
    logger: proxyLogger,
    accessLog: createAccessLog(proxyLogger),
    events,
    auth,
    sessionOwners: policyStore.redis
      ? createRedisSessionOwners(policyStore.redis, createMemorySessionOwners())
      : createMemorySessionOwners(),
    certificates: assembly.tls.acme,
    certificateStore: certificates,
    resources,
    httpsPublicPort: 443,
    closing: false,
  };

  const token = new AdminToken();
  const upgrades: UpgradeTracker = { connections: new Set() };
  const adminRoutes: Record<string, AdminRoutes[string]> = {};
  const challenges = assembly.tls.acme?.challenges;
  const listeners = new Listeners(runtime, certificates, upgrades, adminRoutes, challenges);
  try {
    (await listeners.bind(config)).commit();
  } catch (error) {
    await generation.abort();
    throw error;
  }
  generation.commit();
  runtime.httpsPublicPort = config.listen.publicHttpsPort ?? listeners.ports.https;

  const file = resolve(configFile);
  const reloadLogger = logger.child({ component: 'reload' });
  const afterConfig = (applied: Config) => {
    publishAdminAccess(applied, listeners.ports, token, reloadLogger);
    watch.follow(applied.reload);
    const admin = applied.listen.admin;
    if (admin !== false && !isLoopbackListen(admin)) {
      logger.warn({ admin }, 'admin listener is reachable beyond loopback');
    }
  };
  const reloader = createReloader({
    runtime,
    services,
    listeners,
    configFile: file,
    logger: reloadLogger,
    onApplied: afterConfig,
  });
  const watch = createConfigWatch(file, () => {
    reloader.reload({ channel: 'file-watch', requestedBy: 'file change' }).catch((error) => {
      reloadLogger.error({ err: { message: (error as Error).message } }, 'reload failed');
    });
  });
  adminRoutes['POST /reload'] = createReloadRoute(token, reloader);
  adminRoutes['GET /lockout'] = (req, res) =>
    handleLockoutAdmin(runtime, token, req, res, '/lockout', json);
  adminRoutes['POST /lockout/unlock'] = (req, res) =>
    handleLockoutAdmin(runtime, token, req, res, '/lockout/unlock', json);
  afterConfig(config);
  // The tunnel is started once; a reload keeps it (dbTunnel needs a restart).
  let dbTunnel: DbTunnel | undefined;
  if (config.dbTunnel) {
    const tunnelLogger = logger.child({ component: 'db-tunnel' });
    const { events } = runtime;
    dbTunnel = await startDbTunnel(config.dbTunnel, metrics.dbTunnel, tunnelLogger, events);
    listeners.ports.dbTunnel = dbTunnel.port;
  }
  logger.info(
    { ports: listeners.ports, upstream: runtime.upstream.origin.origin },
    'guard started',
  );
  assembly.tls.acme?.start();
  events.emit({
    type: 'guard.started',
    outcome: 'info',
    details: { https: listeners.ports.https },
  });

  return {
    ports: listeners.ports,
    caCertPath: assembly.tls.caCertPath,
    runtime,
    acme: assembly.tls.acme,
    reload: (request) => reloader.reload(request),
    close: async () => {
      watch.close();
      publishAdminAccess(runtime.policies.config, {}, token, reloadLogger);
      await shutdown(runtime, listeners, upgrades, audit);
      // The app may need its database to finish in-flight requests, so the
      // tunnel closes after them.
      await dbTunnel?.close();
    },
  };
}

// The token file tells `ocomms-guard reload` where the admin listener is now.
function publishAdminAccess(
  config: Config,
  ports: Partial<Ports>,
  token: AdminToken,
  logger: Logger,
) {
  const dataDir = resolve(config.dataDir);
  try {
    const admin = config.listen.admin;
    const access =
      admin === false || ports.admin === undefined
        ? undefined
        : { url: adminUrlFor(admin, ports.admin), token: token.token };
    writeAdminAccess(dataDir, access);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'failed';
    logger.error({ err: { code }, dataDir }, 'admin access file not written');
  }
}

// Stop accepting, let in-flight requests finish until the deadline, end
// WebSockets with a FIN rather than a reset, then cut what is left.
async function shutdown(
  runtime: GuardRuntime,
  listeners: Listeners,
  upgrades: UpgradeTracker,
  audit: AuditTrail,
): Promise<void> {
  if (runtime.closing) return;
  runtime.closing = true;
  const servers = listeners.servers;
  const closed = listeners.stopAccepting();
  for (const connection of upgrades.connections) connection.closeGracefully();
  // Connections become idle as their last response ends; close them then.
  const sweep = setInterval(() => {
    for (const server of servers) server.closeIdleConnections();
  }, 100);
  for (const server of servers) server.closeIdleConnections();

  const deadline = new Promise<'deadline'>((resolve) => {
    setTimeout(resolve, runtime.policies.config.limits.shutdownTimeoutMs, 'deadline').unref();
  });
  const outcome = await Promise.race([Promise.all(closed), deadline]);
  clearInterval(sweep);
  if (outcome === 'deadline') {
    for (const server of servers) server.closeAllConnections();
    for (const connection of upgrades.connections) connection.destroy();
  }
  // The upstream pool, the certificate source and what policies kept end here.
  await runtime.resources.close();
  await runtime.store.close();
  const ended = outcome === 'deadline' ? 'forced' : 'drained';
  runtime.accessLog.flush();
  audit.events.emit({ type: 'guard.stopped', outcome: 'info', details: { outcome: ended } });
  // The last events get a short while to reach the database; the rest wait
  // in the spool for the next start.
  const { shutdownTimeoutMs } = runtime.policies.config.limits;
  await audit.close(Math.min(2000, shutdownTimeoutMs));
  runtime.logger.info({ outcome: ended }, 'guard stopped');
}
