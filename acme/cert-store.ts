import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { GuardError } from '../common/errors.ts';
import { tlsProtocolOptions } from '../proxy/tls-options.ts';

export type CertificatePair = { cert: string | Buffer; key: string | Buffer };

export type InstalledCertificate = {
  readonly pair: CertificatePair;
  readonly names: readonly string[];
  readonly context: SecureContext;
  readonly notAfter: Date;
  readonly fingerprint: string;
};

type Listener = (installed: InstalledCertificate) => void;

// Certificates by server name. Each TLS handshake asks the store, so an
// installed certificate serves the next handshake at once while connections
// made with the old one carry on undisturbed.
export class CertificateStore {
  readonly #byName = new Map<string, InstalledCertificate>();
  readonly #listeners: Listener[] = [];
  #fallback: InstalledCertificate | undefined;

  install(pair: CertificatePair): InstalledCertificate {
    const installed = prepare(pair);
    for (const name of installed.names) this.#byName.set(name.toLowerCase(), installed);
    this.#fallback ??= installed;
    if (this.#fallback.names.some((name) => installed.names.includes(name))) {
      this.#fallback = installed;
    }
    for (const listener of this.#listeners) listener(installed);
    return installed;
  }

  onInstall(listener: Listener): void {
    this.#listeners.push(listener);
  }

  get fallback(): InstalledCertificate | undefined {
    return this.#fallback;
  }

  // Exact name first, then a wildcard one label up, then the first certificate
  // installed, so clients that send no SNI (or an unknown one) still connect.
  lookup(serverName: string | undefined): InstalledCertificate | undefined {
    if (!serverName) return this.#fallback;
    const name = serverName.toLowerCase();
    const exact = this.#byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wildcard = dot === -1 ? undefined : this.#byName.get(`*${name.slice(dot)}`);
    return wildcard ?? this.#fallback;
  }
}

function prepare(pair: CertificatePair): InstalledCertificate {
  let certificate: X509Certificate;
  let context: SecureContext;
  try {
    certificate = new X509Certificate(pair.cert);
    context = createSecureContext({ ...tlsProtocolOptions, cert: pair.cert, key: pair.key });
  } catch (error) {
    const reason = (error as { code?: string }).code ?? 'invalid';
    throw new GuardError('GUARD_ERR_TLS_MATERIAL', `certificate or key rejected (${reason})`);
  }
  if (!certificate.checkPrivateKey(createPrivateKey(pair.key))) {
    throw new GuardError('GUARD_ERR_TLS_MATERIAL', 'the key does not belong to the certificate');
  }
  return {
    pair,
    names: subjectNames(certificate),
    context,
    notAfter: new Date(certificate.validTo),
    fingerprint: certificate.fingerprint256,
  };
}

export function subjectNames(certificate: X509Certificate): string[] {
  const names = (certificate.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:') || entry.startsWith('IP Address:'))
    .map((entry) => entry.slice(entry.indexOf(':') + 1).toLowerCase());
  return names.length > 0 ? names : [/CN=([^\n,]+)/.exec(certificate.subject)?.[1] ?? ''];
}
