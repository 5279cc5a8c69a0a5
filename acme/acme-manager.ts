import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import acme from 'acme-client';
import type { Registry } from 'prom-client';
import type { SecurityEvents } from '../audit/security-events.ts';
import type { Logger } from '../common/log.ts';
import type { AcmeConfig, Config } from '../config/schema.ts';
import type { GuardStore } from '../policies/store.ts';
import { openAccount } from './account.ts';
import { createAcmeMetrics } from './acme-metrics.ts';
import {
  type AcmeError,
  toAcmeError,
  trustForDirectory,
  watchAcmeProblems,
} from './acme-problem.ts';
import { reportFailed, reportIssued } from './acme-report.ts';
import { AcmeStorage, type CertificateState, certificateIdOf } from './acme-storage.ts';
import type { CertificateStore, InstalledCertificate } from './cert-store.ts';
import { ChallengeResponder } from './challenges.ts';
import { openInternalCa } from './internal-ca.ts';
import { orderCertificate } from './order.ts';
import { certificateId, fetchRenewalWindow, renewalInfoUrl } from './renewal-info.ts';
import { checkDelayMs, recordFailure, renewalTime, withinHourlyCap } from './renewal-policy.ts';
import { adoptSharedAccount, offerSharedAccount } from './shared-account.ts';
import {
  createSharedCertificates,
  offeredChallenges,
  type SharedClaim,
} from './shared-certificates.ts';
import { SharedAcmeStore } from './shared-store.ts';

export type AcmeManagerOptions = {
  readonly config: Config;
  readonly store: CertificateStore;
  readonly logger: Logger;
  readonly events: SecurityEvents;
  readonly registry: Registry | undefined;
  /** With Redis, instances share certificates and order each under a lock. */
  readonly sharedStore?: GuardStore;
  /** The clock renewal decisions read (epoch ms); tests move it forward. */
  readonly now?: () => number;
};

export type CertificateStatus = {
  readonly id: string;
  readonly names: readonly string[];
  readonly issuer: string | undefined;
  readonly notAfter: string | undefined;
  readonly renewAt: string | undefined;
  readonly nextAttemptAt: string | undefined;
  readonly lastError: CertificateState['lastError'];
  readonly fingerprint: string | undefined;
};

type Entry = { id: string; names: string[]; state: CertificateState; installed?: Installed };
type Installed = InstalledCertificate & { notBefore: Date; issuer: string };

export type AcmeManager = ReturnType<typeof createAcmeManager>;

export function directoryUrlOf(setting: AcmeConfig['directoryUrl']): string {
  if (setting === 'letsencrypt') return acme.directory.letsencrypt.production;
  if (setting === 'letsencrypt-staging') return acme.directory.letsencrypt.staging;
  return setting;
}

// Keeps every configured ACME certificate valid: loads what the data
// directory holds, orders what is missing, renews from each certificate's
// real lifetime (or the CA's renewal window), backs off after failures, and
// installs the result in the store, which serves it to the next handshake.
export function createAcmeManager(options: AcmeManagerOptions) {
  const { config, store, events } = options;
  const settings = config.tls.acme as AcmeConfig;
  const logger = options.logger;
  const now = options.now ?? Date.now;
  const directoryUrl = directoryUrlOf(settings.directoryUrl);
  const storage = new AcmeStorage(resolve(config.dataDir), directoryUrl);
  const redis = options.sharedStore?.redis;
  const shared = redis
    ? new SharedAcmeStore(redis, config.store.redis?.keyPrefix ?? '', basename(storage.dir))
    : undefined;
  const challenges = new ChallengeResponder(shared);
  const metrics = createAcmeMetrics(options.registry, () => entries, now);
  watchAcmeProblems();
  if (settings.caBundle) trustForDirectory(directoryUrl, readFileSync(resolve(settings.caBundle)));

  const groups = settings.certificates?.map((entry) => entry.names) ?? [config.tls.domains];
  const entries: Entry[] = groups.map((names) => {
    const id = certificateIdOf(names);
    const state = { ...storage.readState(id, names), names: [...names] };
    const installed = loadStored(id);
    // A lost state file must not mean "renew now": the lifetime says when.
    if (installed && state.renewAt === undefined) {
      state.renewAt = renewalTime(installed.notBefore, installed.notAfter);
    }
    return { id, names: [...names], state, installed };
  });
  if (!store.fallback) installInterim();
  const sharing =
    shared &&
    createSharedCertificates({
      shared,
      storage,
      logger,
      now,
      install: (pair) => describe(store.install(pair)),
    });

  const challengeTypes = offeredChallenges(
    settings.challenges,
    config.listen.http !== false,
    shared !== undefined,
  );
  if (shared && challengeTypes.includes('tls-alpn-01')) {
    logger.warn('tls-alpn-01 with a shared store: validation must reach the ordering instance');
  }
  let client: acme.Client | undefined;
  let ariUrl: string | undefined | null = null;
  let running: Promise<CertificateStatus[]> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function loadStored(id: string): Installed | undefined {
    const pair = storage.readPair(id);
    if (!pair) return undefined;
    try {
      return describe(store.install(pair));
    } catch (error) {
      logger.warn(
        { certificate: id, code: (error as AcmeError).code },
        'stored certificate unusable',
      );
      return undefined;
    }
  }

  // The HTTPS listener needs some certificate before the first order is
  // through (TLS-ALPN-01 is answered on it); a short-lived one from the
  // internal CA serves meanwhile, and /readyz says not ready.
  function installInterim(): void {
    const ca = openInternalCa(resolve(config.dataDir));
    store.install(ca.leafFor(config.tls.domains, 1));
    logger.info({ names: config.tls.domains }, 'interim certificate until acme issuance');
  }

  function isDue(entry: Entry, force: boolean): boolean {
    if (force || !entry.installed) return true;
    const covered = entry.names.every((name) => entry.installed?.names.includes(name));
    return !covered || now() >= (entry.state.renewAt ?? 0);
  }

  function mayTry(entry: Entry, force: boolean): boolean {
    if (now() >= (entry.state.notBefore ?? 0)) return true;
    return force && withinHourlyCap(entry.state, now());
  }

  async function account(): Promise<acme.Client> {
    if (client) return client;
    const open = () =>
      openAccount(
        storage,
        {
          directoryUrl,
          email: settings.email,
          externalAccountBinding: settings.externalAccountBinding,
        },
        logger,
      );
    if (shared) await adoptSharedAccount(shared, storage, directoryUrl);
    client = await open();
    if (shared && (await offerSharedAccount(shared, storage, logger))) client = await open();
    return client;
  }

  async function refreshRenewalWindow(entry: Entry): Promise<void> {
    if (!entry.installed || now() < (entry.state.ariAskAgainAt ?? 0)) return;
    try {
      if (ariUrl === null) ariUrl = await renewalInfoUrl(directoryUrl);
      const certId = ariUrl ? certificateId(entry.installed.pair.cert as string) : undefined;
      if (!ariUrl || !certId) return;
      const window = await fetchRenewalWindow(ariUrl, certId, now());
      if (!window) return;
      entry.state.ariAskAgainAt = window.askAgainAt;
      const lifetimeRenewAt = renewalTime(entry.installed.notBefore, entry.installed.notAfter);
      entry.state.renewAt = Math.min(window.renewAt, lifetimeRenewAt);
      storage.writeState(entry.id, entry.state);
    } catch (error) {
      logger.debug({ certificate: entry.id, code: (error as AcmeError).code }, 'ari unavailable');
    }
  }

  async function attempt(entry: Entry, force: boolean): Promise<void> {
    const claim: SharedClaim = sharing
      ? await sharing.claim(entry, () => isDue(entry, force) && mayTry(entry, force))
      : { order: true, lease: undefined };
    if (!claim.order) return;
    try {
      await order(entry);
    } finally {
      if (claim.lease?.lost) logger.warn({ certificate: entry.id }, 'acme lock lost during order');
      await claim.lease?.release();
    }
  }

  async function order(entry: Entry): Promise<void> {
    const renewing = entry.installed !== undefined;
    try {
      const acmeClient = await account();
      const replaces =
        renewing && ariUrl ? certificateId(entry.installed?.pair.cert as string) : undefined;
      const context = { client: acmeClient, storage, challenges, challengeTypes, logger };
      const { cert, key } = await orderCertificate(
        { ...context, keyType: settings.keyType },
        entry.id,
        entry.state,
        replaces,
      );
      const installed = describe(store.install({ cert, key }));
      storage.writePair(entry.id, cert, key);
      entry.installed = installed;
      entry.state = {
        names: entry.names,
        failures: 0,
        failureTimes: entry.state.failureTimes,
        renewAt: renewalTime(installed.notBefore, installed.notAfter),
        issuer: installed.issuer,
        notAfter: installed.notAfter.toISOString(),
      };
      storage.writeState(entry.id, entry.state);
      succeeded(entry, installed, renewing);
      await sharing?.publish(entry);
    } catch (error) {
      failed(entry, toAcmeError(error, 'GUARD_ERR_ACME_ORDER'));
      await sharing?.failed(entry);
    }
  }

  function succeeded(entry: Entry, installed: Installed, renewing: boolean): void {
    metrics.orders.inc({ result: renewing ? 'renewed' : 'issued' });
    reportIssued({ logger, events }, entry, installed, renewing);
  }

  function failed(entry: Entry, error: AcmeError): void {
    entry.state = recordFailure(entry.state, now(), error.problem?.retryAfterSeconds);
    entry.state.lastError = {
      code: error.code,
      problemType: error.problem?.type,
      detail: (error.problem?.detail ?? error.message).slice(0, 300),
      at: new Date(now()).toISOString(),
    };
    storage.writeState(entry.id, entry.state);
    metrics.orders.inc({ result: 'failed' });
    reportFailed({ logger, events }, entry, error, now());
  }

  async function check(force: boolean): Promise<CertificateStatus[]> {
    for (const entry of entries) {
      if (closed) break;
      await sharing?.sync(entry);
      if (!force) await refreshRenewalWindow(entry);
      if (isDue(entry, force) && mayTry(entry, force)) await attempt(entry, force);
    }
    schedule();
    return status();
  }

  function schedule(): void {
    if (timer) clearTimeout(timer);
    if (closed) return;
    let next = Math.min(now() + checkDelayMs(), sharing?.nextCheckAt() ?? Infinity);
    for (const entry of entries) {
      const due = entry.installed ? (entry.state.renewAt ?? 0) : 0;
      next = Math.min(next, Math.max(due, entry.state.notBefore ?? 0));
    }
    timer = setTimeout(() => void runLogged(), Math.max(next - now(), 1000));
    timer.unref();
  }

  // One run at a time: a forced renewal during a routine check waits for it.
  function run(force: boolean): Promise<CertificateStatus[]> {
    const previous = running ?? Promise.resolve([]);
    const next = previous.then(() => check(force));
    running = next.catch(() => []);
    return next;
  }

  // A check that throws (the data directory unwritable, say) is logged and
  // tried again at the next routine check, never an unhandled rejection.
  function runLogged(): Promise<unknown> {
    return run(false).catch((error: unknown) => {
      logger.error({ code: (error as AcmeError).code ?? 'unknown' }, 'certificate check failed');
      if (!closed) {
        timer = setTimeout(() => void runLogged(), checkDelayMs());
        timer.unref();
      }
    });
  }

  function status(): CertificateStatus[] {
    return entries.map((entry) => ({
      id: entry.id,
      names: entry.names,
      issuer: entry.installed?.issuer,
      notAfter: entry.installed?.notAfter.toISOString(),
      renewAt: isoOrUndefined(entry.installed ? entry.state.renewAt : undefined),
      nextAttemptAt: isoOrUndefined(entry.state.notBefore),
      lastError: entry.state.lastError,
      fingerprint: entry.installed?.fingerprint,
    }));
  }

  return {
    challenges,
    storage,
    /** Every configured certificate is issued by the CA (none interim) and unexpired. */
    ready: () => entries.every((entry) => (entry.installed?.notAfter.getTime() ?? 0) > now()),
    start(): void {
      if (!shared) return void runLogged();
      // Another instance's certificate or failure is looked at as soon as it is shared.
      shared.subscribe(() => void runLogged());
      const waitMs = config.store.redis?.connectTimeoutMs ?? 0;
      void shared.whenReady(waitMs).then(() => runLogged());
    },
    renew: (force: boolean) => run(force),
    status,
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      shared?.close();
    },
  };
}

function describe(installed: InstalledCertificate): Installed {
  const info = acme.crypto.readCertificateInfo(installed.pair.cert);
  return { ...installed, notBefore: info.notBefore, issuer: info.issuer.commonName };
}

function isoOrUndefined(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
