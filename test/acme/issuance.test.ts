import { statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';
import type { TestGuard } from '../support/guard-harness.ts';

let fixture: AcmeFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function servedCertificate(f: AcmeFixture, name: string) {
  const socket = await f.connectTls(name);
  const certificate = socket.getPeerX509Certificate();
  socket.destroy();
  if (!certificate) throw new Error('no certificate');
  return certificate;
}

function issued(guard: TestGuard) {
  return guard.logs.filter((line) => line.msg === 'certificate issued');
}

describe('acme issuance against Pebble', { timeout: 120_000 }, () => {
  it('issues by HTTP-01 at start and serves it, verified against the CA', async () => {
    fixture = await startAcmeFixture();
    const guard = await fixture.startGuard({ challenges: ['http-01'] });
    const ready = await fetch(`${guard.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'certificates pending' });

    await fixture.waitReady(guard);
    const certificate = await servedCertificate(fixture, 'guard.test');
    expect(certificate.subjectAltName).toBe('DNS:guard.test');
    expect(certificate.issuer).toMatch(/Pebble Intermediate CA/);
    expect(certificate.publicKey.asymmetricKeyType).toBe('ec');
    expect(guard.logs.some((line) => line.challenge === 'http-01')).toBe(true);
    expect((await fetch(`${guard.adminUrl}/readyz`)).status).toBe(200);

    const events = guard.logs.filter((line) => line.msg === 'security event');
    // The guard's own start is a security event too: pick the certificate's.
    const event = events
      .map((line) => line.event as Record<string, unknown>)
      .find((entry) => entry.type !== 'guard.started');
    expect(event).toMatchObject({ type: 'certificate.issued', outcome: 'success' });
    expect(event?.details).toMatchObject({ names: 'guard.test' });

    const files = guard.guard.acme?.storage;
    const dir = files?.filesFor('guard.test');
    expect(statSync(dir?.bundle ?? '').mode & 0o777).toBe(0o600);
    expect(statSync(files?.accountKeyPath ?? '').mode & 0o777).toBe(0o600);
    const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/guard_acme_orders_total\{result="issued"\} 1/);
    expect(metrics).toMatch(/guard_certificate_expiry_seconds\{certificate="guard.test"\} \d+/);
  });

  it('issues by TLS-ALPN-01, several names, several certificates, RSA keys', async () => {
    fixture = await startAcmeFixture();
    const guard = await fixture.startGuard({
      challenges: ['tls-alpn-01'],
      keyType: 'rsa-2048',
      certificates: [{ names: ['guard.test', 'www.guard.test'] }, { names: ['chat.test'] }],
    });
    await fixture.waitReady(guard);

    const first = await servedCertificate(fixture, 'www.guard.test');
    expect(first.subjectAltName).toBe('DNS:guard.test, DNS:www.guard.test');
    expect(first.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const second = await servedCertificate(fixture, 'chat.test');
    expect(second.subjectAltName).toBe('DNS:chat.test');
    expect(issued(guard)).toHaveLength(2);
    const validated = guard.logs.filter((line) => line.msg === 'acme challenge validated');
    expect(validated.map((line) => line.challenge)).toEqual([
      'tls-alpn-01',
      'tls-alpn-01',
      'tls-alpn-01',
    ]);
    expect(fixture.pebble.accountsCreated()).toBe(1);
  });
});
