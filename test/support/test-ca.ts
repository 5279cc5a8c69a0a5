import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TestCa = {
  readonly dir: string;
  /** PEM file of the CA certificate, for clients to trust. */
  readonly certPath: string;
  /** A leaf for the names (DNS names or IP addresses), signed by this CA. */
  issue(commonName: string, names: readonly string[]): { certPath: string; keyPath: string };
};

// A throwaway CA made with openssl, so servers under test present
// certificates that clients verify for real (CA and host name).
export function createTestCa(label = 'test-ca'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    keyPath,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${label}`,
    '-out',
    certPath,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  let serial = 1;

  return {
    dir,
    certPath,
    issue(commonName, names) {
      serial += 1;
      const base = join(dir, `leaf-${serial}`);
      const leafKey = `${base}.key`;
      const csr = `${base}.csr`;
      const ext = `${base}.ext`;
      const leafCert = `${base}.crt`;
      const alt = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`));
      writeFileSync(
        ext,
        `subjectAltName=${alt.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', leafKey]);
      openssl(['req', '-new', '-key', leafKey, '-subj', `/CN=${commonName}`, '-out', csr]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certPath,
        '-CAkey',
        keyPath,
        '-set_serial',
        String(serial),
        '-days',
        '2',
        '-sha256',
        '-extfile',
        ext,
        '-out',
        leafCert,
      ]);
      return { certPath: leafCert, keyPath: leafKey };
    },
  };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
