import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// A bounded load loop on loopback while the configuration is reloaded over
// and over: no request fails, and each answer carries either the old or the
// new header, never a mix, because a request reads the policies once.

const MAX_REQUESTS = 1200;
const MAX_MS = 20_000;
const WORKERS = 8;

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;

afterEach(async () => {
  await guard?.close();
  await double?.close();
  guard = undefined;
  double = undefined;
});

function headersFor(value: string) {
  return { xFrameOptions: value, referrerPolicy: value === 'DENY' ? 'no-referrer' : 'same-origin' };
}

describe('reload under load', () => {
  it('loses no request while reloads swap the policies', async () => {
    double = await startOcommsDouble();
    const stack = await startTestGuard(double.url, { headers: headersFor('DENY') });
    guard = stack;
    const deadline = Date.now() + MAX_MS;
    let sent = 0;
    const failures: string[] = [];
    const seen = new Map<string, number>();

    const worker = async () => {
      while (sent < MAX_REQUESTS && Date.now() < deadline) {
        sent += 1;
        const post = sent % 3 === 0;
        try {
          const response = await request(`${stack.url}/api/${post ? 'echo' : 'health'}`, {
            dispatcher: stack.agent,
            method: post ? 'POST' : 'GET',
            ...(post ? { body: 'x'.repeat(2048), headers: { 'content-type': 'text/plain' } } : {}),
          });
          await response.body.text();
          const { headers } = response;
          const pair = `${headers['x-frame-options']} ${headers['referrer-policy']}`;
          seen.set(pair, (seen.get(pair) ?? 0) + 1);
          if (response.statusCode !== 200) failures.push(`status ${response.statusCode}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    let reloads = 0;
    let refused = 0;
    let loading = true;
    const reloader = (async () => {
      while (loading) {
        const value = reloads % 2 === 0 ? 'SAMEORIGIN' : 'DENY';
        stack.rewriteConfig({ headers: headersFor(value) });
        const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'load test' });
        if (outcome.status === 'applied') reloads += 1;
        else refused += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    await Promise.all(Array.from({ length: WORKERS }, worker));
    loading = false;
    await reloader;

    expect(failures).toEqual([]);
    expect(refused).toBe(0);
    expect(reloads).toBeGreaterThanOrEqual(10);
    const answered = [...seen.values()].reduce((sum, count) => sum + count, 0);
    expect(answered).toBe(sent);
    expect([...seen.keys()].sort()).toEqual(['DENY no-referrer', 'SAMEORIGIN same-origin']);
  });
});
