import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { GuardError } from './errors.ts';

// Certificates and keys named in the configuration: read where they are used,
// and inspected by `check` so that a file that cannot work is reported before
// the guard starts, not on the first connection that needs it.

/** Reads a file of TLS material; `what` is its configuration key. */
export function readTlsMaterial(file: string, what: string): Buffer {
  const read = readMaterial(file);
  if (Buffer.isBuffer(read)) return read;
  throw new GuardError('GUARD_ERR_TLS_MATERIAL', `${what}: cannot read ${file} (${read.reason})`);
}

// A bundle of every public CA is about 200 KB. Anything but a regular file is
// refused before it is read: a FIFO would wait for a writer forever, and a
// device such as /dev/zero would never end. Opened without blocking, so that
// even a FIFO is only looked at.
const maxMaterialBytes = 4 * 1024 * 1024;

function readMaterial(file: string): Buffer | { reason: string } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return { reason: errorCode(error) };
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return { reason: `${kindOf(stats)}, not a regular file` };
    if (stats.size > maxMaterialBytes) return { reason: 'larger than 4 MiB' };
    const bytes = Buffer.alloc(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const count = readSync(fd, bytes, filled, bytes.length - filled, filled);
      if (count === 0) break;
      filled += count;
    }
    return bytes.subarray(0, filled);
  } catch (error) {
    return { reason: errorCode(error) };
  } finally {
    closeSync(fd);
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'a device';
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'unreadable';
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
  const bytes = readMaterial(file);
  if (!Buffer.isBuffer(bytes)) return { problem: unreadable(bytes.reason) };
  try {
    return { value: createPrivateKey(bytes) };
  } catch {
    return {
      problem: 'the file holds no usable private key (a key with a passphrase cannot be used)',
    };
  }
}

function readText(file: string): string | { problem: string } {
  const bytes = readMaterial(file);
  return Buffer.isBuffer(bytes) ? bytes.toString('utf8') : { problem: unreadable(bytes.reason) };
}

function unreadable(reason: string): string {
  return `the file cannot be read (${reason})`;
}
