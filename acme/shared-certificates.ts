import { X509Certificate } from 'node:crypto';
import type { Logger } from '../common/log.ts';
import {
  type AcmeStorage,
  type CertificateState,
  joinBundle,
  splitBundle,
} from './acme-storage.ts';
import { type CertificatePair, type InstalledCertificate, subjectNames } from './cert-store.ts';
import type { ChallengeType } from './order.ts';
import { renewalTime } from './renewal-policy.ts';
import type { Lease, SharedAcmeStore, SharedAttempts } from './shared-store.ts';

type Installed = InstalledCertificate & { notBefore: Date; issuer: string };

export type SharedEntry = {
  id: string;
  names: string[];
  state: CertificateState;
  installed?: Installed;
};

export type SharedClaim = { order: false } | { order: true; lease: Lease | undefined };

/** While Redis is away, coordination is tried again this often. */
const storeRetryMs = 30_000;
/** Redis away this long with a valid certificate in service: order alone. */
export const storeFallbackMs = 5 * 60_000;
/** Redis away this long with no certificate yet (a cold start): order alone. */
export const coldFallbackMs = 30_000;
/** While another instance orders, look again at least this often (pub/sub may miss). */
const waitPollMs = 15_000;

export type SharedCertificatesOptions = {
  readonly shared: SharedAcmeStore;
  readonly storage: AcmeStorage;
  readonly logger: Logger;
  readonly now: () => number;
  readonly install: (pair: CertificatePair) => Installed;
};

export type SharedCertificates = ReturnType<typeof createSharedCertificates>;

// How one instance takes part in the shared certificate store: it loads what
// another instance issued, orders only under the certificate's lock, shares
// its results and failures (so the backoff and the hourly cap hold across
// instances), and decides what to do while Redis is away: postpone, then
// order alone from the local files after a declared delay.
export function createSharedCertificates(options: SharedCertificatesOptions) {
  const { shared, storage, logger, now } = options;
  const downSince = new Map<string, number>();
  const retryAt = new Map<string, number>();
  const seenAttempts = new Map<string, number>();

  async function sync(entry: SharedEntry): Promise<void> {
    let text: string | null;
    let attempts: SharedAttempts | undefined;
    try {
      [text, attempts] = await Promise.all([
        shared.readBundle(entry.id),
        shared.readAttempts(entry.id),
      ]);
    } catch {
      return;
    }
    if (attempts) mergeAttempts(entry, attempts);
    const pair = text ? splitBundle(text) : undefined;
    const found = pair ? describeShared(pair.cert, entry.names) : undefined;
    const installed = entry.installed;
    const localNotAfter = installed?.notAfter.getTime() ?? 0;
    // On a tie (two certificates issued within the same second) the shared
    // one wins, so every instance ends up with the same.
    if (pair && found && found.fingerprint !== installed?.fingerprint) {
      if (found.notAfter >= localNotAfter) return adopt(entry, pair);
    }
    if (installed && (!found || found.notAfter < localNotAfter)) {
      // Ordered alone while Redis was away, or Redis lost its data.
      await publish(entry);
    }
  }

  function mergeAttempts(entry: SharedEntry, attempts: SharedAttempts): void {
    if (attempts.updatedAt <= (seenAttempts.get(entry.id) ?? 0)) return;
    seenAttempts.set(entry.id, attempts.updatedAt);
    const hourAgo = now() - 3600_000;
    const times = new Set([...entry.state.failureTimes, ...attempts.failureTimes]);
    const failureTimes = [...times].filter((at) => at > hourAgo).sort((a, b) => a - b);
    const localLatest = Math.max(0, ...entry.state.failureTimes);
    entry.state = { ...entry.state, failureTimes };
    if (attempts.updatedAt < localLatest) return;
    entry.state.failures = attempts.failures;
    entry.state.notBefore = attempts.notBefore;
    entry.state.lastError = attempts.lastError;
  }

  function adopt(entry: SharedEntry, pair: CertificatePair): void {
    let installed: Installed;
    try {
      installed = options.install(pair);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'invalid';
      logger.warn({ certificate: entry.id, code }, 'shared certificate unusable');
      return;
    }
    storage.writePair(entry.id, pair.cert.toString(), pair.key);
    entry.installed = installed;
    entry.state = {
      ...entry.state,
      pendingOrderUrl: undefined,
      renewAt: renewalTime(installed.notBefore, installed.notAfter),
      issuer: installed.issuer,
      notAfter: installed.notAfter.toISOString(),
    };
    storage.writeState(entry.id, entry.state);
    const { fingerprint, notAfter } = installed;
    logger.info(
      { certificate: entry.id, fingerprint, notAfter },
      'certificate loaded from shared store',
    );
  }

  async function publish(entry: SharedEntry): Promise<void> {
    const installed = entry.installed;
    if (!installed) return;
    try {
      await shared.writeAttempts(entry.id, attemptsOf(entry.state, now()), false);
      await shared.writeBundle(
        entry.id,
        joinBundle(installed.pair.cert.toString(), installed.pair.key),
      );
      logger.info({ certificate: entry.id }, 'certificate shared');
    } catch {
      logger.warn({ certificate: entry.id }, 'acme store unavailable, certificate kept locally');
    }
  }

  // The lock, and a second look at the shared store once it is held: the
  // previous holder may have finished between the first look and the lock.
  async function claim(entry: SharedEntry, stillDue: () => boolean): Promise<SharedClaim> {
    let result: Awaited<ReturnType<SharedAcmeStore['claim']>>;
    try {
      result = await shared.claim(entry.id);
    } catch {
      return storeDown(entry);
    }
    downSince.delete(entry.id);
    if (result.kind === 'held') {
      const retryInMs = Math.min(result.expiresInMs, waitPollMs) + jitterMs(1000);
      retryAt.set(entry.id, now() + retryInMs);
      logger.info({ certificate: entry.id, retryInMs }, 'acme order held by another instance');
      return { order: false };
    }
    retryAt.delete(entry.id);
    await sync(entry);
    if (stillDue()) return { order: true, lease: result.lease };
    await result.lease.release();
    return { order: false };
  }

  function storeDown(entry: SharedEntry): SharedClaim {
    const since = downSince.get(entry.id) ?? now();
    downSince.set(entry.id, since);
    const waitedMs = now() - since;
    if (waitedMs >= (entry.installed ? storeFallbackMs : coldFallbackMs)) {
      retryAt.delete(entry.id);
      logger.warn({ certificate: entry.id, waitedMs }, 'acme store unavailable, ordering alone');
      return { order: true, lease: undefined };
    }
    retryAt.set(entry.id, now() + storeRetryMs / 2 + jitterMs(storeRetryMs / 2));
    logger.warn({ certificate: entry.id, waitedMs }, 'acme store unavailable, order postponed');
    return { order: false };
  }

  async function failed(entry: SharedEntry): Promise<void> {
    try {
      await shared.writeAttempts(entry.id, attemptsOf(entry.state, now()), true);
    } catch {
      logger.warn({ certificate: entry.id }, 'acme store unavailable, failure kept locally');
    }
  }

  return {
    sync,
    claim,
    publish,
    failed,
    /** When a postponed or waiting certificate should be looked at again (epoch ms). */
    nextCheckAt: () => Math.min(Number.POSITIVE_INFINITY, ...retryAt.values()),
  };
}

// With several instances, the CA's validation request may reach any of them:
// HTTP-01 answers are shared through Redis, TLS-ALPN-01 answers cannot be
// (the handshake cannot wait for Redis), so TLS-ALPN-01 is offered only when
// HTTP-01 is not available.
export function offeredChallenges(
  configured: readonly ChallengeType[],
  httpListener: boolean,
  sharedStore: boolean,
): ChallengeType[] {
  const usable = configured.filter((type) => type !== 'http-01' || httpListener);
  if (!sharedStore || !usable.includes('http-01')) return usable;
  return ['http-01'];
}

function attemptsOf(state: CertificateState, nowMs: number): SharedAttempts {
  const { failures, failureTimes, notBefore, lastError } = state;
  return { failures, failureTimes, notBefore, lastError, updatedAt: nowMs };
}

// The shared certificate counts only when it covers every configured name.
function describeShared(
  cert: string,
  names: readonly string[],
): { notAfter: number; fingerprint: string } | undefined {
  try {
    const certificate = new X509Certificate(cert);
    const covered = subjectNames(certificate);
    if (!names.every((name) => covered.includes(name.toLowerCase()))) return undefined;
    const notAfter = new Date(certificate.validTo).getTime();
    return { notAfter, fingerprint: certificate.fingerprint256 };
  } catch {
    return undefined;
  }
}

function jitterMs(maxMs: number): number {
  return Math.floor(Math.random() * maxMs);
}
