import { describe, expect, it } from 'vitest';
import { toAcmeError, withNetworkRetry } from '../../acme/acme-problem.ts';

describe('acme errors', () => {
  it('tells a request without response from a refusal by the CA', () => {
    const lost = new TypeError("Cannot read properties of undefined (reading 'config')");
    expect(toAcmeError(lost, 'GUARD_ERR_ACME_ORDER').code).toBe('GUARD_ERR_ACME_UNREACHABLE');
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(toAcmeError(reset, 'GUARD_ERR_ACME_ORDER').message).toBe('network error (ECONNRESET)');
    const other = toAcmeError(new Error('Unexpected item status: invalid'), 'GUARD_ERR_ACME_ORDER');
    expect(other.code).toBe('GUARD_ERR_ACME_ORDER');
    expect(other.problem).toBeUndefined();
  });

  it('retries network failures twice, and nothing the CA answered', async () => {
    let calls = 0;
    const flaky = () => {
      calls += 1;
      if (calls < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
      return Promise.resolve('ok');
    };
    expect(await withNetworkRetry('GUARD_ERR_ACME_ORDER', async () => flaky())).toBe('ok');
    expect(calls).toBe(3);
    calls = 0;
    const refused = withNetworkRetry('GUARD_ERR_ACME_ORDER', async () => {
      calls += 1;
      throw new Error('Order is not ready');
    });
    await expect(refused).rejects.toMatchObject({ code: 'GUARD_ERR_ACME_ORDER' });
    expect(calls).toBe(1);
  }, 15_000);
});
