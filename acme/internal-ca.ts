import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { writeFileAtomic } from './atomic-file.ts';
import type { CertificatePair } from './cert-store.ts';

const { pki, md } = forge;

export type InternalCa = {
  readonly caCertPath: string;
  /** A leaf for the names, reused while it covers them and has a third of its life left. */
  leafFor(names: readonly string[], validityDays: number): CertificatePair;
};

type Material = { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };

const caValidityYears = 10;

// A private CA made once in the data directory, so an operator trusts one
// root and every leaf the guard issues later is accepted.
export function openInternalCa(dataDir: string): InternalCa {
  const dir = join(dataDir, 'internal-ca');
  const caCertPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  const ca = existsSync(caCertPath) ? readMaterial(caCertPath, caKeyPath) : createCa();
  if (!existsSync(caCertPath)) {
    writeFileAtomic(caKeyPath, pki.privateKeyToPem(ca.key), 0o600);
    writeFileAtomic(caCertPath, pki.certificateToPem(ca.cert), 0o644);
  }

  return {
    caCertPath,
    leafFor(names, validityDays) {
      const leafCert = join(dir, 'leaf.crt');
      const leafKey = join(dir, 'leaf.key');
      if (existsSync(leafCert) && leafStillFits(readFileSync(leafCert), names)) {
        return { cert: chain(readFileSync(leafCert, 'utf8'), ca), key: readFileSync(leafKey) };
      }
      const leaf = issueLeaf(ca, names, validityDays);
      writeFileAtomic(leafKey, pki.privateKeyToPem(leaf.key), 0o600);
      writeFileAtomic(leafCert, pki.certificateToPem(leaf.cert), 0o644);
      return {
        cert: chain(pki.certificateToPem(leaf.cert), ca),
        key: pki.privateKeyToPem(leaf.key),
      };
    },
  };
}

function chain(leafPem: string, ca: Material): string {
  return `${leafPem.trim()}\n${pki.certificateToPem(ca.cert)}`;
}

function readMaterial(certPath: string, keyPath: string): Material {
  const cert = pki.certificateFromPem(readFileSync(certPath, 'utf8'));
  const key = pki.privateKeyFromPem(readFileSync(keyPath, 'utf8')) as forge.pki.rsa.PrivateKey;
  return { cert, key };
}

function leafStillFits(pem: Buffer, names: readonly string[]): boolean {
  const certificate = new X509Certificate(pem);
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  const remaining = notAfter - Date.now();
  if (remaining < (notAfter - notBefore) / 3) return false;
  const covered = (certificate.subjectAltName ?? '').toLowerCase();
  return names.every((name) => covered.includes(`:${name.toLowerCase()}`));
}

function serialNumber(): string {
  // Positive, 16 bytes of randomness (CA/B Forum asks for at least 64 bits).
  return `7${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
}

function createCa(): Material {
  const keys = pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + caValidityYears * 365 * 86_400_000);
  const subject = [{ name: 'commonName', value: 'ocomms-guard local CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, md.sha256.create());
  return { cert, key: keys.privateKey };
}

function issueLeaf(ca: Material, names: readonly string[], validityDays: number): Material {
  const keys = pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + validityDays * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const altNames = names.map((name) =>
    isIP(name) ? { type: 7, ip: name } : { type: 2, value: name },
  );
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  cert.sign(ca.key, md.sha256.create());
  return { cert, key: keys.privateKey };
}
