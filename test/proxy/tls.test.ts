import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate, type SecureVersion } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openInternalCa } from '../../acme/internal-ca.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

let app: OcommsDouble;

beforeAll(async () => {
  app = await startOcommsDouble();
});
afterAll(async () => {
  await app.close();
});

type Handshake = { protocol: string | null; cipher: string; peer: PeerCertificate };

function handshake(
  port: number,
  ca: Buffer,
  options: { servername?: string; minVersion?: SecureVersion; maxVersion?: SecureVersion } = {},
): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, ca, servername: 'localhost', ...options },
      () => {
        const result = {
          protocol: socket.getProtocol(),
          cipher: socket.getCipher().name,
          peer: socket.getPeerCertificate(),
        };
        socket.end();
        resolve(result);
      },
    );
    socket.on('error', reject);
  });
}

describe('internal TLS', () => {
  let guard: TestGuard;
  beforeAll(async () => {
    guard = await startTestGuard(app.url, { tls: { domains: ['localhost', 'chat.test'] } });
  });
  afterAll(async () => guard.close());

  it('speaks TLS 1.3 and 1.2 with forward-secret AEAD suites, and nothing older', async () => {
    const modern = await handshake(guard.guard.ports.https, guard.ca);
    expect(modern.protocol).toBe('TLSv1.3');
    const older = await handshake(guard.guard.ports.https, guard.ca, { maxVersion: 'TLSv1.2' });
    expect(older.protocol).toBe('TLSv1.2');
    expect(older.cipher).toMatch(/^ECDHE-(RSA|ECDSA)-(AES\d+-GCM|CHACHA20)/);
    await expect(
      handshake(guard.guard.ports.https, guard.ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
    ).rejects.toThrow();
  });

  it('serves a certificate for every configured name, verified against the local CA', async () => {
    const result = await handshake(guard.guard.ports.https, guard.ca, { servername: 'chat.test' });
    expect(result.peer.subjectaltname).toContain('DNS:chat.test');
    expect(result.peer.subjectaltname).toContain('DNS:localhost');
  });

  it('keeps the CA key private and reuses the CA on the next start', () => {
    const caDir = join(guard.dataDir, 'internal-ca');
    const again = openInternalCa(guard.dataDir);
    expect(readFileSync(again.caCertPath)).toEqual(guard.ca);
    expect(statSync(join(caDir, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(caDir, 'leaf.key')).mode & 0o777).toBe(0o600);
  });
});

describe('certificates from files', () => {
  it('serves new handshakes with a replaced certificate without dropping open connections', async () => {
    const source = mkdtempSync(join(tmpdir(), 'guard-files-'));
    const ca = openInternalCa(source);
    const first = ca.leafFor(['localhost'], 30);
    const dir = mkdtempSync(join(tmpdir(), 'guard-certs-'));
    const write = (pair: { cert: string | Buffer; key: string | Buffer }) => {
      writeFileSync(join(dir, 'cert.pem'), pair.cert);
      writeFileSync(join(dir, 'key.pem'), pair.key);
    };
    write(first);
    const caPem = readFileSync(ca.caCertPath);

    const guard = await startTestGuard(app.url, {
      tls: { mode: 'files', files: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } },
    });
    try {
      const port = guard.guard.ports.https;
      const before = await handshake(port, caPem);
      const open = await openConnection(port, caPem);

      // A new leaf (other names), written over the files as a renewal tool
      // would; the guard notices the change by itself.
      const second = ca.leafFor(['localhost', 'renewed.test'], 30);
      write(second);
      const expected = new X509Certificate(second.cert).fingerprint256;
      let after = before;
      for (let tries = 0; tries < 40 && after.peer.fingerprint256 !== expected; tries += 1) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        after = await handshake(port, caPem);
      }
      expect(after.peer.fingerprint256).not.toBe(before.peer.fingerprint256);
      expect(after.peer.fingerprint256).toBe(expected);
      expect(await open.get('/api/health')).toContain('HTTP/1.1 200');
      open.close();
    } finally {
      await guard.close();
      rmSync(source, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start on a key that does not match the certificate', async () => {
    const one = mkdtempSync(join(tmpdir(), 'guard-a-'));
    const two = mkdtempSync(join(tmpdir(), 'guard-b-'));
    const a = openInternalCa(one).leafFor(['localhost'], 30);
    const b = openInternalCa(two).leafFor(['localhost'], 30);
    const dir = mkdtempSync(join(tmpdir(), 'guard-mismatch-'));
    writeFileSync(join(dir, 'cert.pem'), a.cert);
    writeFileSync(join(dir, 'key.pem'), b.key);
    await expect(
      startTestGuard(app.url, {
        tls: { mode: 'files', files: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } },
      }),
    ).rejects.toMatchObject({ code: 'GUARD_ERR_TLS_MATERIAL' });
    for (const path of [one, two, dir]) rmSync(path, { recursive: true, force: true });
  });
});

// A kept-alive TLS connection, to prove it survives a certificate swap.
function openConnection(port: number, ca: Buffer) {
  return new Promise<{ get(path: string): Promise<string>; close(): void }>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve({
        get(path) {
          return new Promise((done) => {
            socket.once('data', (chunk: Buffer) => done(chunk.toString('latin1')));
            socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
          });
        },
        close: () => socket.destroy(),
      });
    });
    socket.on('error', reject);
  });
}
