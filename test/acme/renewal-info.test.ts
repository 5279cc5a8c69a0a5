import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CertificateState } from '../../acme/acme-storage.ts';
import { certificateId, fetchRenewalWindow } from '../../acme/renewal-info.ts';
import { backoffMs, recordFailure, renewalTime } from '../../acme/renewal-policy.ts';

const dir = mkdtempSync(join(tmpdir(), 'guard-ari-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

// The example of RFC 9773 section 4.1: this key identifier and serial number
// make the certID "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
function exampleCertificate(): string {
  const keyId = '69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4';
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=ari',
    '-days',
    '2',
    '-out',
    'ca.crt',
    '-addext',
    `subjectKeyIdentifier=${keyId}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  ]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key']);
  openssl(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=leaf', '-out', 'leaf.csr']);
  writeFileSync(join(dir, 'ext'), 'authorityKeyIdentifier=keyid\nsubjectAltName=DNS:x.test\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x87654321',
    '-days',
    '1',
    '-extfile',
    'ext',
    '-out',
    'leaf.crt',
  ]);
  return readFileSync(join(dir, 'leaf.crt'), 'utf8');
}

describe('renewal timing', () => {
  it('computes the RFC 9773 certificate identifier', () => {
    expect(certificateId(exampleCertificate())).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('renews when a third of the lifetime remains, for 90-day and 6-day certificates', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const day = 86_400_000;
    expect(renewalTime(new Date(start), new Date(start + 90 * day))).toBe(start + 60 * day);
    expect(renewalTime(new Date(start), new Date(start + 6 * day))).toBe(start + 4 * day);
  });

  it('backs off exponentially with jitter, honours Retry-After and caps failures an hour', () => {
    expect(backoffMs(1, () => 0)).toBe(150_000);
    expect(backoffMs(1, () => 1)).toBe(300_000);
    expect(backoffMs(3, () => 1)).toBe(1_200_000);
    expect(backoffMs(40, () => 1)).toBe(12 * 3_600_000);
    const now = 1_000_000_000;
    let state: CertificateState = { names: ['a.test'], failures: 0, failureTimes: [] };
    state = recordFailure(state, now, 7200, () => 0);
    expect(state.notBefore).toBe(now + 7_200_000);
    state = recordFailure(state, now + 1000, undefined, () => 0);
    state = recordFailure(state, now + 2000, undefined, () => 0);
    expect(state.notBefore).toBe(now + 3_600_000);
  });

  it('picks a moment inside the suggested window and asks again after Retry-After', async () => {
    const window = { start: '2026-03-01T00:00:00Z', end: '2026-03-03T00:00:00Z' };
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' });
      res.end(JSON.stringify({ suggestedWindow: window }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/renewal-info`;
    const found = await fetchRenewalWindow(base, 'abc.def', 1000, () => 0.5);
    server.close();
    expect(paths).toEqual(['/renewal-info/abc.def']);
    expect(found).toEqual({
      renewAt: Date.parse('2026-03-02T00:00:00Z'),
      askAgainAt: 1000 + 21_600_000,
    });
  });
});
