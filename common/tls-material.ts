import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GuardError } from './errors.ts';

// Certificates and keys named in the configuration: read where they are used,
// and inspected by `check` so that a file that cannot work is reported before
// the guard starts, not on the first connection that needs it.

/** Reads a file of TLS material; `what` is its configuration key. */
export function readTlsMaterial(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new GuardError('GUARD_ERR_TLS_MATERIAL', `${what}: cannot read ${file} (${reason})`);
  }
}

export type Inspected<T> = { value: T } | { problem: string };

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file, or why there is none to use. */
export function inspectCertificates(file: string): Inspected<X509Certificate[]> {
  const text = readText(file);
  if (typeof text !== 'string') return text;
  const blocks = text.match(pemCertificate) ?? [];
  if (blocks.length === 0) return { problem: 'the file holds no PEM certificate' };
  try {
    return { value: blocks.map((block) => new X509Certificate(block)) };
  } catch {
    return { problem: 'the file holds a certificate that cannot be parsed' };
  }
}

/** The private key of a PEM or DER file; keys with a passphrase are refused. */
export function inspectPrivateKey(file: string): Inspected<KeyObject> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    return { problem: unreadable(error) };
  }
  try {
    return { value: createPrivateKey(bytes) };
  } catch {
    return {
      problem: 'the file holds no usable private key (a key with a passphrase cannot be used)',
    };
  }
}

function readText(file: string): string | { problem: string } {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    return { problem: unreadable(error) };
  }
}

function unreadable(error: unknown): string {
  const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
  return `the file cannot be read (${reason})`;
}
