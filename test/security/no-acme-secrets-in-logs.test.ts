import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';

const hmacKey = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
let fixture: AcmeFixture | undefined;
afterAll(() => fixture?.close());

function keyBody(pem: string): string {
  const body = /-----BEGIN [A-Z ]*PRIVATE KEY-----\n([^-]+)-----END/.exec(pem)?.[1] ?? '';
  return body.replace(/\n/g, '').slice(0, 40);
}

describe('acme secrets', { timeout: 120_000 }, () => {
  it('binds the account with the external account key and logs no key at all', async () => {
    fixture = await startAcmeFixture({ externalAccountKeys: { 'kid-1': hmacKey } });
    const guard = await fixture.startGuard({
      externalAccountBinding: { kid: 'kid-1', hmacKey },
    });
    await fixture.waitReady(guard);

    const storage = guard.guard.acme?.storage;
    const accountKey = readFileSync(storage?.accountKeyPath ?? '', 'utf8');
    const certificateKey = readFileSync(storage?.filesFor('guard.test').bundle ?? '', 'utf8');
    const logs = guard.logText();
    expect(logs).toContain('"msg":"certificate issued"');
    for (const secret of [hmacKey, keyBody(accountKey), keyBody(certificateKey)]) {
      expect(secret.length).toBeGreaterThan(30);
      expect(logs).not.toContain(secret);
    }
  });
});
