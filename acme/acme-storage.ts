import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';

export type LastError = {
  readonly code: string;
  readonly problemType: string | undefined;
  readonly detail: string;
  readonly at: string;
};

/** What the guard remembers about one certificate between starts. */
export type CertificateState = {
  names: string[];
  /** An order placed but not yet turned into an installed certificate. */
  pendingOrderUrl?: string;
  /** Consecutive failed attempts, for the backoff. */
  failures: number;
  /** When failed attempts happened (epoch ms), for the hourly cap. */
  failureTimes: number[];
  /** No attempt before this time (epoch ms), after a failure or a Retry-After. */
  notBefore?: number;
  /** When the certificate in service should be renewed (epoch ms). */
  renewAt?: number;
  /** When to ask the CA's renewal information again (epoch ms). */
  ariAskAgainAt?: number;
  lastError?: LastError;
  issuer?: string;
  notAfter?: string;
};

export type AccountRecord = { url: string; directoryUrl: string; contact: string[] };

export type CertificateFiles = { bundle: string; pendingKey: string; state: string };

// Everything ACME lives under dataDir/acme/<directory>/, so a staging account
// and a production account, or two CAs, never mix. Keys are 0600, the folder
// 0700, every write atomic.
export class AcmeStorage {
  readonly dir: string;

  constructor(dataDir: string, directoryUrl: string) {
    const url = new URL(directoryUrl);
    const digest = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 8);
    this.dir = join(dataDir, 'acme', `${url.hostname.replace(/[^a-z0-9.-]/gi, '_')}-${digest}`);
  }

  get accountKeyPath(): string {
    return join(this.dir, 'account.key');
  }

  readAccountKey(): Buffer | undefined {
    return existsSync(this.accountKeyPath) ? readFileSync(this.accountKeyPath) : undefined;
  }

  writeAccountKey(pem: Buffer): void {
    writeFileAtomic(this.accountKeyPath, pem, 0o600);
  }

  readAccount(): AccountRecord | undefined {
    return readJson<AccountRecord>(join(this.dir, 'account.json'));
  }

  writeAccount(record: AccountRecord): void {
    writeFileAtomic(join(this.dir, 'account.json'), JSON.stringify(record, null, 2), 0o600);
  }

  filesFor(certificateId: string): CertificateFiles {
    const dir = join(this.dir, 'certificates', certificateId);
    return {
      bundle: join(dir, 'certificate.pem'),
      pendingKey: join(dir, 'pending-key.pem'),
      state: join(dir, 'state.json'),
    };
  }

  readState(certificateId: string, names: readonly string[]): CertificateState {
    const stored = readJson<CertificateState>(this.filesFor(certificateId).state);
    return stored ?? { names: [...names], failures: 0, failureTimes: [] };
  }

  writeState(certificateId: string, state: CertificateState): void {
    writeFileAtomic(this.filesFor(certificateId).state, JSON.stringify(state, null, 2), 0o600);
  }

  readPair(certificateId: string): { cert: string; key: string } | undefined {
    const path = this.filesFor(certificateId).bundle;
    if (!existsSync(path)) return undefined;
    return splitBundle(readFileSync(path, 'utf8'));
  }

  // Key and chain in one file, written with one rename: a crash can never
  // leave a new certificate beside an old key.
  writePair(certificateId: string, cert: string, key: Buffer | string): void {
    const files = this.filesFor(certificateId);
    writeFileAtomic(files.bundle, joinBundle(cert, key), 0o600);
    rmSync(files.pendingKey, { force: true });
  }

  readPendingKey(certificateId: string): Buffer | undefined {
    const path = this.filesFor(certificateId).pendingKey;
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  writePendingKey(certificateId: string, key: Buffer): void {
    writeFileAtomic(this.filesFor(certificateId).pendingKey, key, 0o600);
  }
}

/** Key and chain as one PEM text: the bundle file, and what instances share. */
export function joinBundle(cert: string, key: Buffer | string): string {
  return `${key.toString().trim()}\n${cert.trim()}\n`;
}

export function splitBundle(text: string): { cert: string; key: string } | undefined {
  const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]+-----END [A-Z ]*PRIVATE KEY-----\n?/.exec(
    text,
  )?.[0];
  if (!key) return undefined;
  return { key, cert: text.replace(key, '') };
}

/** A file-system-safe identifier for a certificate: its first name. */
export function certificateIdOf(names: readonly string[]): string {
  const first = (names[0] ?? 'certificate').toLowerCase();
  return first.replace(/^\*\./, 'wildcard.').replace(/[^a-z0-9.-]/g, '_');
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
