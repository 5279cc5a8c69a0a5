import { readFileSync, writeFileSync } from 'node:fs';
import acme from 'acme-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';
import type { TestGuard } from '../support/guard-harness.ts';
import { waitFor } from '../support/wait-for.ts';

let fixture: AcmeFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function fingerprintServed(f: AcmeFixture, name: string): Promise<string> {
  const socket = await f.connectTls(name);
  const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
  socket.destroy();
  return fingerprint;
}

function eventsOf(guard: TestGuard, type: string) {
  return guard.logs
    .filter((line) => line.msg === 'security event')
    .map((line) => line.event as { type: string; details: Record<string, unknown> })
    .filter((event) => event.type === type);
}

// One request over an already open TLS connection: it still works after the swap.
function requestOver(socket: import('node:tls').TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n\r\n') && text.endsWith('app')) resolve(text);
    });
    socket.once('error', reject);
    socket.write('GET / HTTP/1.1\r\nHost: guard.test\r\n\r\n');
  });
}

describe('acme renewal, restart and failures against Pebble', { timeout: 120_000 }, () => {
  it('renews at a third of the real lifetime and swaps without dropping connections', async () => {
    fixture = await startAcmeFixture({ certificateValiditySeconds: 3 * 24 * 3600 });
    let offsetMs = 0;
    const guard = await fixture.startGuard({}, { now: () => Date.now() + offsetMs });
    await fixture.waitReady(guard);
    const [status] = guard.guard.acme?.status() ?? [];
    const notAfter = Date.parse(status?.notAfter ?? '');
    const renewAt = Date.parse(status?.renewAt ?? '');
    // Pebble's three days: renewal one day before the end.
    expect(Math.abs(notAfter - renewAt - 24 * 3600 * 1000)).toBeLessThan(5000);

    const before = await fingerprintServed(fixture, 'guard.test');
    const open = await fixture.connectTls('guard.test');
    expect(await requestOver(open)).toMatch(/^HTTP\/1.1 200/);
    await guard.guard.acme?.renew(false);
    expect(await fingerprintServed(fixture, 'guard.test')).toBe(before);
    expect(eventsOf(guard, 'certificate.renewed')).toHaveLength(0);

    offsetMs = renewAt - Date.now() + 1000;
    await guard.guard.acme?.renew(false);
    const after = await fingerprintServed(fixture, 'guard.test');
    expect(after).not.toBe(before);
    expect(eventsOf(guard, 'certificate.renewed')).toHaveLength(1);
    expect(await requestOver(open)).toMatch(/^HTTP\/1.1 200/);
    expect(open.getPeerX509Certificate()?.fingerprint256).toBe(before);
    open.destroy();
    expect(fixture.pebble.accountsCreated()).toBe(1);
    expect(fixture.pebble.ordersCreated()).toBe(2);
  });

  it('renews a short-lived certificate by its own timer', async () => {
    fixture = await startAcmeFixture({ certificateValiditySeconds: 9 });
    const guard = await fixture.startGuard();
    await fixture.waitReady(guard);
    const first = await fingerprintServed(fixture, 'guard.test');
    const explain = () => guard.logText();
    await waitFor(() => eventsOf(guard, 'certificate.renewed').length >= 1, 60_000, 100, explain);
    expect(await fingerprintServed(fixture, 'guard.test')).not.toBe(first);
  });

  it('reuses the account and the certificate after a restart', async () => {
    fixture = await startAcmeFixture();
    const first = await fixture.startGuard();
    await fixture.waitReady(first);
    const served = await fingerprintServed(fixture, 'guard.test');
    await first.close();

    const second = await fixture.startGuard();
    expect(second.guard.acme?.ready()).toBe(true);
    await second.guard.acme?.renew(false);
    expect(await fingerprintServed(fixture, 'guard.test')).toBe(served);
    expect(fixture.pebble.accountsCreated()).toBe(1);
    expect(fixture.pebble.ordersCreated()).toBe(1);
    expect(second.logs.some((line) => line.msg === 'acme account registered')).toBe(false);
  });

  it('resumes an order placed before a stop instead of placing another', async () => {
    fixture = await startAcmeFixture();
    const first = await fixture.startGuard();
    await fixture.waitReady(first);
    const storage = first.guard.acme?.storage;
    await first.close();
    if (!storage) throw new Error('no storage');
    const files = storage.filesFor('guard.test');
    // What a stop between "order placed" and "certificate installed" leaves.
    const account = storage.readAccount();
    const client = new acme.Client({
      directoryUrl: fixture.pebble.directoryUrl,
      accountKey: storage.readAccountKey() ?? '',
      accountUrl: account?.url ?? '',
    });
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: 'guard.test' }] });
    storage.writePendingKey('guard.test', await acme.crypto.createPrivateEcdsaKey());
    const state = JSON.parse(readFileSync(files.state, 'utf8')) as Record<string, unknown>;
    writeFileSync(files.state, JSON.stringify({ ...state, pendingOrderUrl: order.url }));
    writeFileSync(files.bundle, '');
    expect(fixture.pebble.ordersCreated()).toBe(2);

    const second = await fixture.startGuard();
    await fixture.waitReady(second);
    expect(second.logs.some((line) => line.msg === 'acme order resumed')).toBe(true);
    expect(fixture.pebble.ordersCreated()).toBe(2);
    expect(eventsOf(second, 'certificate.issued')).toHaveLength(1);
  });

  it('replaces an order the CA no longer knows, without an error loop', async () => {
    fixture = await startAcmeFixture();
    const first = await fixture.startGuard();
    await fixture.waitReady(first);
    const storage = first.guard.acme?.storage;
    await first.close();
    const files = storage?.filesFor('guard.test');
    if (!files) throw new Error('no storage');
    // As if the guard had stopped mid-order: no certificate, an order recorded.
    writeFileSync(files.bundle, '');
    const state = JSON.parse(readFileSync(files.state, 'utf8')) as Record<string, unknown>;
    const url = new URL(fixture.pebble.directoryUrl);
    state.pendingOrderUrl = `${url.origin}/my-order/vanished`;
    writeFileSync(files.state, JSON.stringify(state));

    const second = await fixture.startGuard();
    await fixture.waitReady(second);
    expect(second.logs.some((line) => line.msg === 'acme order not resumable')).toBe(true);
    expect(eventsOf(second, 'certificate.failed')).toHaveLength(0);
    expect(fixture.pebble.ordersCreated()).toBe(2);
  });

  it('backs off after a failed validation, keeps the problem type and the served certificate', async () => {
    // Renewal due after two minutes; the backoff after a failure is longer.
    fixture = await startAcmeFixture({ certificateValiditySeconds: 180 });
    let offsetMs = 0;
    const guard = await fixture.startGuard(
      { challenges: ['http-01'] },
      { now: () => Date.now() + offsetMs },
    );
    await fixture.waitReady(guard);
    const served = await fingerprintServed(fixture, 'guard.test');
    const orders = fixture.pebble.ordersCreated();

    await fixture.pebble.setAddress('guard.test', '127.0.0.2');
    const [failed] = (await guard.guard.acme?.renew(true)) ?? [];
    expect(failed?.lastError).toMatchObject({
      code: 'GUARD_ERR_ACME_CHALLENGE',
      problemType: 'urn:ietf:params:acme:error:connection',
    });
    const next = Date.parse(failed?.nextAttemptAt ?? '');
    expect(next - Date.now()).toBeGreaterThan(2 * 60_000);
    expect(await fingerprintServed(fixture, 'guard.test')).toBe(served);
    const [event] = eventsOf(guard, 'certificate.failed');
    expect(event?.details).toMatchObject({
      problemType: 'urn:ietf:params:acme:error:connection',
      code: 'GUARD_ERR_ACME_CHALLENGE',
    });
    const logged = guard.logs.find((line) => line.msg === 'certificate order failed');
    expect(logged?.problemType).toBe('urn:ietf:params:acme:error:connection');

    // Due for renewal, but inside the backoff: nothing is ordered.
    expect(Date.parse(failed?.renewAt ?? '')).toBeLessThan(next - 10_000);
    offsetMs = next - Date.now() - 5000;
    await guard.guard.acme?.renew(false);
    expect(fixture.pebble.ordersCreated()).toBe(orders + 1);

    // Once the name validates again and the backoff is over, renewal goes through.
    await fixture.pebble.clearAddress('guard.test');
    offsetMs = next - Date.now() + 1000;
    const [renewed] = (await guard.guard.acme?.renew(false)) ?? [];
    expect(renewed?.lastError).toBeUndefined();
    expect(await fingerprintServed(fixture, 'guard.test')).not.toBe(served);
  });

  it('keeps forced attempts under the hourly cap of failed validations', async () => {
    fixture = await startAcmeFixture();
    const guard = await fixture.startGuard();
    await fixture.waitReady(guard);
    const served = await fingerprintServed(fixture, 'guard.test');
    await fixture.pebble.setAddress('guard.test', '127.0.0.2');
    for (let attempt = 0; attempt < 5; attempt += 1) await guard.guard.acme?.renew(true);
    expect(eventsOf(guard, 'certificate.failed')).toHaveLength(3);
    expect(guard.guard.acme?.ready()).toBe(true);
    expect(await fingerprintServed(fixture, 'guard.test')).toBe(served);
  });
});
