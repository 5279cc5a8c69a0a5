import type { Registry } from 'prom-client';
import type { CertificateStore } from '../acme/cert-store.ts';
import type { SecurityEvents } from '../audit/security-events.ts';
import type { Logger } from '../common/log.ts';
import { readTlsMaterial } from '../common/tls-material.ts';
import type { Config } from '../config/schema.ts';
import type { GuardStore } from '../policies/store.ts';
import type { AuthRuntime } from './auth-runtime.ts';
import type { GuardPolicies } from './context.ts';
import { createUpstream, type Upstream } from './forward.ts';
import { buildPolicies } from './policies.ts';
import type { ResourceGeneration } from './shared-resources.ts';
import { startTlsSource, type TlsSource } from './tls-source.ts';

export type Assembly = {
  readonly policies: GuardPolicies;
  readonly upstream: Upstream;
  readonly tls: TlsSource;
};

// What a configuration builds, at start and on every reload, inside one
// resource generation: the connection pool to the app and the certificate
// source are kept while their settings stay the same; the policies are new.
/** What every configuration is built on, made once per guard. */
export type AssemblyServices = {
  readonly certificates: CertificateStore;
  readonly store: GuardStore;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly events: SecurityEvents;
  /** The sign-in policies, built once per guard (they keep state across reloads). */
  readonly auth?: AuthRuntime | undefined;
  /** The clock certificate renewal reads (epoch ms); tests move it. */
  readonly now?: (() => number) | undefined;
};

export function assemble(
  config: Config,
  generation: ResourceGeneration,
  services: AssemblyServices,
): Assembly {
  const { certificates, logger } = services;
  // The CA file is part of the pool's settings: a replaced bundle makes a new pool.
  const ca = config.upstream.ca ? readTlsMaterial(config.upstream.ca, 'upstream.ca') : undefined;
  // Which client headers are dropped is a policy, rebuilt on every reload;
  // a change to it keeps the pool.
  const { dropRequestHeaders: _policy, ...poolSettings } = config.upstream;
  const upstream = generation.acquire(
    'upstream',
    { upstream: poolSettings, ca },
    () => createUpstream(config.upstream, ca),
    (pool) => pool.close(),
  );
  const policies = buildPolicies(config, { ...services, resources: generation });
  // Last, because it installs certificates in the store as it starts.
  const tls = generation.acquire(
    'tls',
    { tls: config.tls, dataDir: config.dataDir },
    () =>
      startTlsSource(config, certificates, logger.child({ component: 'tls' }), {
        events: services.events,
        registry: services.registry,
        now: services.now,
        sharedStore: services.store,
      }),
    (source) => source.close(),
  );
  return { policies, upstream, tls };
}
