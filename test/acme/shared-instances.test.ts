import { basename } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';
import type { TestGuard } from '../support/guard-harness.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { waitFor } from '../support/wait-for.ts';

let fixture: AcmeFixture | undefined;
let redis: TestRedis | undefined;
let probe: Redis | undefined;
afterEach(async () => {
  probe?.disconnect();
  await fixture?.close();
  await redis?.close();
  fixture = undefined;
  redis = undefined;
  probe = undefined;
});

async function sharedSetup(certificateValiditySeconds?: number) {
  redis = await startTestRedis();
  probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  fixture = await startAcmeFixture({
    guardConfig: { store: { redis: { url: redis.url } } },
    ...(certificateValiditySeconds ? { certificateValiditySeconds } : {}),
  });
  return { fixture, probe };
}

async function fingerprintServed(f: AcmeFixture, guard: TestGuard): Promise<string> {
  const socket = await f.connectTls('guard.test', guard.guard.ports.https);
  const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
  socket.destroy();
  return fingerprint;
}

function logged(guard: TestGuard, msg: string) {
  return guard.logs.filter((line) => line.msg === msg);
}

function eventsOf(guard: TestGuard, type: string) {
  return logged(guard, 'security event')
    .map((line) => line.event as { type: string })
    .filter((event) => event.type === type);
}

function sharedKey(guard: TestGuard, kind: string): string {
  const storage = guard.guard.acme?.storage;
  if (!storage) throw new Error('no acme storage');
  const base = `guard:acme:${basename(storage.dir)}`;
  return kind === 'account' ? `${base}:account` : `${base}:${kind}:guard.test`;
}

const explain =
  (...guards: TestGuard[]) =>
  () =>
    guards.map((guard) => guard.logText()).join('\n----\n');

describe('several guard instances sharing Redis', { timeout: 120_000 }, () => {
  it('two instances issue once, both serve it, and keys stay out of the logs', async () => {
    const { fixture: f, probe: inspect } = await sharedSetup();
    const a = await f.startGuard();
    const b = await f.startPeer();
    await f.waitReady(a);
    await f.waitReady(b);

    expect(f.pebble.ordersCreated()).toBe(1);
    expect(f.pebble.accountsCreated()).toBe(1);
    const served = await fingerprintServed(f, a);
    expect(await fingerprintServed(f, b)).toBe(served);
    const loaded = [a, b].flatMap((guard) => logged(guard, 'certificate loaded from shared store'));
    expect(loaded).toHaveLength(1);
    // With a shared store only HTTP-01 is offered (see offeredChallenges).
    const validated = [a, b].flatMap((guard) => logged(guard, 'acme challenge validated'));
    expect(validated.map((line) => line.challenge)).toEqual(['http-01']);

    const bundle = await inspect.get(sharedKey(a, 'bundle'));
    expect(bundle).toContain('PRIVATE KEY');
    await waitFor(async () => (await inspect.exists(sharedKey(a, 'lock'))) === 0, 10_000);

    // Whichever instance ordered, the account (and its key) is in Redis.
    const account = JSON.parse((await inspect.get(sharedKey(a, 'account'))) ?? '{}');
    const keyBody = String(account.key).split('\n')[1] ?? 'missing';
    expect(keyBody.length).toBeGreaterThan(20);
    const certKeyBody = bundle?.split('\n')[1] ?? 'missing';
    for (const guard of [a, b]) {
      expect(guard.logText()).not.toContain('PRIVATE KEY');
      expect(guard.logText()).not.toContain(keyBody);
      expect(guard.logText()).not.toContain(certKeyBody);
    }
  });

  it('answers HTTP-01 on the instance that did not place the order', async () => {
    const { fixture: f } = await sharedSetup();
    const a = await f.startGuard();
    await f.waitReady(a);
    // b starts with the certificate a shared: it orders nothing.
    const b = await f.startPeer();
    await f.waitReady(b);
    expect(f.pebble.ordersCreated()).toBe(1);
    const before = await fingerprintServed(f, a);

    // b orders; Pebble validates at a's port, and a answers from Redis.
    const [status] = (await b.guard.acme?.renew(true)) ?? [];
    expect(status?.lastError).toBeUndefined();
    expect(f.pebble.ordersCreated()).toBe(2);
    expect(logged(b, 'acme challenge validated')).toHaveLength(1);
    expect(f.pebble.accountsCreated()).toBe(1);
    expect(logged(a, 'acme challenge validated')).toHaveLength(1);
    const answered = logged(a, 'acme challenge request').filter((line) => line.status === 200);
    expect(answered.length).toBeGreaterThanOrEqual(2);
    expect(logged(b, 'acme challenge request')).toHaveLength(0);

    // a picks up b's certificate without a restart, told through Redis.
    const renewed = await fingerprintServed(f, b);
    expect(renewed).not.toBe(before);
    await waitFor(async () => (await fingerprintServed(f, a)) === renewed, 30_000, 200, explain(a));
    expect(eventsOf(a, 'certificate.renewed')).toHaveLength(0);
    expect(eventsOf(b, 'certificate.renewed')).toHaveLength(1);
  });

  it('renews once when both instances are due, and both serve the renewal', async () => {
    const { fixture: f } = await sharedSetup(3 * 24 * 3600);
    let offsetMs = 0;
    const clock = { now: () => Date.now() + offsetMs };
    const a = await f.startGuard({}, clock);
    await f.waitReady(a);
    const b = await f.startPeer({}, clock);
    await f.waitReady(b);
    const before = await fingerprintServed(f, a);
    const renewAt = Date.parse(a.guard.acme?.status()[0]?.renewAt ?? '');

    offsetMs = renewAt - Date.now() + 1000;
    await Promise.all([a.guard.acme?.renew(false), b.guard.acme?.renew(false)]);
    // The new certificate's renewal time is only seconds past this clock:
    // back to real time, so that nothing renews it again during the test.
    offsetMs = 0;
    const changed = async () => {
      const served = [await fingerprintServed(f, a), await fingerprintServed(f, b)];
      return served[0] !== before && served[0] === served[1];
    };
    await waitFor(changed, 30_000, 200, explain(a, b));
    expect(f.pebble.ordersCreated()).toBe(2);
    const renewals = [a, b].flatMap((guard) => eventsOf(guard, 'certificate.renewed'));
    expect(renewals).toHaveLength(1);
  });

  it('backs off every instance after one of them failed', async () => {
    // Renewal due after two minutes; the backoff after a failure is longer.
    const { fixture: f } = await sharedSetup(180);
    let offsetMs = 0;
    const clock = { now: () => Date.now() + offsetMs };
    const a = await f.startGuard({}, clock);
    await f.waitReady(a);
    const b = await f.startPeer({}, clock);
    await f.waitReady(b);

    await f.pebble.setAddress('guard.test', '127.0.0.2');
    const [failed] = (await b.guard.acme?.renew(true)) ?? [];
    expect(failed?.lastError?.problemType).toBe('urn:ietf:params:acme:error:connection');
    expect(f.pebble.ordersCreated()).toBe(2);
    // a learns of b's failure through Redis, with b's next attempt time.
    const learned = () => a.guard.acme?.status()[0]?.nextAttemptAt === failed?.nextAttemptAt;
    await waitFor(learned, 30_000, 200, explain(a));
    expect(a.guard.acme?.status()[0]?.lastError?.code).toBe('GUARD_ERR_ACME_CHALLENGE');

    // Due, but inside the shared backoff: neither instance orders.
    await f.pebble.clearAddress('guard.test');
    const renewAt = Date.parse(a.guard.acme?.status()[0]?.renewAt ?? '');
    const next = Date.parse(failed?.nextAttemptAt ?? '');
    expect(next).toBeGreaterThan(renewAt + 10_000);
    offsetMs = renewAt - Date.now() + 1000;
    await Promise.all([a.guard.acme?.renew(false), b.guard.acme?.renew(false)]);
    offsetMs = 0;
    expect(f.pebble.ordersCreated()).toBe(2);
  });

  it('takes over when the instance holding the lock crashed', async () => {
    const { fixture: f, probe: inspect } = await sharedSetup(3 * 24 * 3600);
    let offsetMs = 0;
    const a = await f.startGuard({}, { now: () => Date.now() + offsetMs });
    await f.waitReady(a);
    const before = await fingerprintServed(f, a);

    // What an instance killed in the middle of its order leaves behind.
    await inspect.set(sharedKey(a, 'lock'), 'crashed-instance', 'PX', 4000);
    const renewAt = Date.parse(a.guard.acme?.status()[0]?.renewAt ?? '');
    offsetMs = renewAt - Date.now() + 1000;
    await a.guard.acme?.renew(false);
    expect(logged(a, 'acme order held by another instance')).toHaveLength(1);
    expect(f.pebble.ordersCreated()).toBe(1);

    // The lock runs out; the next look (by timer, no call here) takes it.
    await waitFor(() => eventsOf(a, 'certificate.renewed').length === 1, 45_000, 200, explain(a));
    offsetMs = 0;
    expect(await fingerprintServed(f, a)).not.toBe(before);
    expect(f.pebble.ordersCreated()).toBe(2);
    // Released once the certificate is shared (just after the event).
    await waitFor(async () => (await inspect.exists(sharedKey(a, 'lock'))) === 0, 10_000);
  });

  it('postpones while Redis is down, then orders alone and shares the result later', async () => {
    const { fixture: f, probe: inspect } = await sharedSetup(3 * 24 * 3600);
    let offsetMs = 0;
    const a = await f.startGuard({}, { now: () => Date.now() + offsetMs });
    await f.waitReady(a);
    const before = await fingerprintServed(f, a);
    const renewAt = Date.parse(a.guard.acme?.status()[0]?.renewAt ?? '');

    await redis?.stop();
    offsetMs = renewAt - Date.now() + 1000;
    await a.guard.acme?.renew(false);
    expect(logged(a, 'acme store unavailable, order postponed')).toHaveLength(1);
    expect(f.pebble.ordersCreated()).toBe(1);
    expect(await fingerprintServed(f, a)).toBe(before);

    // Five minutes without Redis: the certificate is ordered from the local files.
    offsetMs += 5 * 60_000 + 1000;
    await a.guard.acme?.renew(false);
    offsetMs = 0;
    expect(logged(a, 'acme store unavailable, ordering alone')).toHaveLength(1);
    expect(f.pebble.ordersCreated()).toBe(2);
    const renewed = await fingerprintServed(f, a);
    expect(renewed).not.toBe(before);

    // Redis comes back empty: the next check shares what was ordered alone.
    await redis?.restart();
    await waitFor(() => a.guard.runtime.store.state() === 'ready', 20_000);
    await a.guard.acme?.renew(false);
    const bundle = (await inspect.get(sharedKey(a, 'bundle'))) ?? '';
    expect(bundle).toContain(a.guard.acme?.storage.readPair('guard.test')?.cert.trim());
    expect(f.pebble.ordersCreated()).toBe(2);
  });
});
