import { resolve } from 'node:path';
import type { Registry } from 'prom-client';
import { type AcmeManager, createAcmeManager } from '../acme/acme-manager.ts';
import type { CertificateStore } from '../acme/cert-store.ts';
import { watchCertificateFiles } from '../acme/file-certs.ts';
import { openInternalCa } from '../acme/internal-ca.ts';
import type { SecurityEvents } from '../audit/security-events.ts';
import { GuardError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { Config } from '../config/schema.ts';
import type { GuardStore } from '../policies/store.ts';

export type TlsSource = {
  readonly caCertPath?: string;
  readonly acme?: AcmeManager;
  reload(): void;
  close(): void;
};

export type TlsSourceContext = {
  readonly events: SecurityEvents;
  readonly registry?: Registry;
  /** Redis, when configured: ACME certificates are shared between instances. */
  readonly sharedStore?: GuardStore;
  /** The clock certificate renewal reads (epoch ms). */
  readonly now?: () => number;
};

const internalCheckMs = 12 * 3600 * 1000;

// Fills the certificate store from the configured source and keeps it fresh.
export function startTlsSource(
  config: Config,
  store: CertificateStore,
  logger: Logger,
  context: TlsSourceContext,
): TlsSource {
  const { tls } = config;
  if (tls.mode === 'acme') {
    const { events, registry, now, sharedStore } = context;
    const manager = createAcmeManager({
      config,
      store,
      logger,
      events,
      registry,
      now,
      sharedStore,
    });
    return { acme: manager, reload: () => void manager.renew(false), close: manager.close };
  }
  if (tls.mode === 'files' && tls.files) {
    const files = { cert: resolve(tls.files.cert), key: resolve(tls.files.key) };
    const watcher = watchCertificateFiles(files, store, logger);
    if (!watcher.reload()) {
      watcher.close();
      throw new GuardError('GUARD_ERR_TLS_MATERIAL', `cannot load ${files.cert} with its key`);
    }
    return { reload: () => void watcher.reload(), close: () => watcher.close() };
  }

  const ca = openInternalCa(resolve(config.dataDir));
  const refresh = () => {
    const pair = ca.leafFor(tls.domains, tls.leafValidityDays);
    const current = store.lookup(tls.domains[0]);
    const installed = store.install(pair);
    if (installed.fingerprint !== current?.fingerprint) {
      logger.info({ names: installed.names, notAfter: installed.notAfter }, 'certificate loaded');
    }
  };
  refresh();
  logger.info({ caCert: ca.caCertPath }, 'internal CA in use: trust this certificate in clients');
  const timer = setInterval(refresh, internalCheckMs);
  timer.unref();
  return { caCertPath: ca.caCertPath, reload: refresh, close: () => clearInterval(timer) };
}
