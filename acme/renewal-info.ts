import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';

export type RenewalWindow = {
  /** The moment chosen inside the CA's suggested window (epoch ms). */
  readonly renewAt: number;
  /** When to ask again, from Retry-After (epoch ms). */
  readonly askAgainAt: number;
};

const defaultAskAgainMs = 6 * 3600 * 1000;

/** The renewalInfo URL of a directory, when the CA offers RFC 9773 at all. */
export async function renewalInfoUrl(directoryUrl: string): Promise<string | undefined> {
  const response = await acme.axios.get(directoryUrl, { validateStatus: null });
  const url = (response.data as { renewalInfo?: unknown } | undefined)?.renewalInfo;
  return response.status === 200 && typeof url === 'string' ? url : undefined;
}

// RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(serial DER bytes).
export function certificateId(pem: string | Buffer): string | undefined {
  const certificate = new X509Certificate(pem);
  const keyIdentifier = authorityKeyIdentifier(certificate.raw);
  if (!keyIdentifier) return undefined;
  const hex = certificate.serialNumber;
  let serial = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
  // DER integers are signed: a leading high bit needs a zero byte before it.
  if ((serial[0] ?? 0) & 0x80) {
    serial = Buffer.concat([Buffer.from([0]), serial]);
  }
  return `${keyIdentifier.toString('base64url')}.${serial.toString('base64url')}`;
}

// The CA's suggested window, and a moment chosen uniformly inside it, so
// that a fleet does not renew all at once (section 4.2).
export async function fetchRenewalWindow(
  baseUrl: string,
  certId: string,
  nowMs: number,
  random = Math.random,
): Promise<RenewalWindow | undefined> {
  const url = `${baseUrl.replace(/\/$/, '')}/${certId}`;
  const response = await acme.axios.get(url, { validateStatus: null });
  if (response.status !== 200) return undefined;
  const window = (response.data as { suggestedWindow?: { start?: unknown; end?: unknown } })
    ?.suggestedWindow;
  const start = Date.parse(String(window?.start));
  const end = Date.parse(String(window?.end));
  if (Number.isNaN(start) || Number.isNaN(end) || end < start) return undefined;
  const retryAfter = Number(response.headers['retry-after']);
  const askAgainMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0;
  return {
    renewAt: start + (end - start) * random(),
    askAgainAt: nowMs + (askAgainMs || defaultAskAgainMs),
  };
}

// Reads AuthorityKeyIdentifier (2.5.29.35) from the DER certificate: the
// extension's OCTET STRING holds a SEQUENCE whose [0] is the key identifier.
function authorityKeyIdentifier(der: Buffer): Buffer | undefined {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);
  let at = der.indexOf(oid);
  if (at === -1) return undefined;
  at += oid.length;
  if (der[at] === 0x01) at += 3;
  if (der[at] !== 0x04) return undefined;
  const octets = readLength(der, at + 1);
  if (der[octets.start] !== 0x30) return undefined;
  const sequence = readLength(der, octets.start + 1);
  if (der[sequence.start] !== 0x80) return undefined;
  const key = readLength(der, sequence.start + 1);
  return der.subarray(key.start, key.start + key.length);
}

function readLength(der: Buffer, at: number): { start: number; length: number } {
  const first = der[at] ?? 0;
  if (first < 0x80) return { start: at + 1, length: first };
  const bytes = first & 0x7f;
  let length = 0;
  for (let index = 1; index <= bytes; index += 1) length = length * 256 + (der[at + index] ?? 0);
  return { start: at + 1 + bytes, length };
}
