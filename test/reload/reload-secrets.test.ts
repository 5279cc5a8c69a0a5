import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// A refused reload logs every error with the value found, as `check` prints
// it; a secret in the file (from the environment, or a credential typed into
// a URL) must not come along, neither in the log nor in the answer.

const fromEnvironment = 'planted-env-secret-6a1f';
const typedIn = 'planted-url-password-93c2';

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;

afterEach(async () => {
  delete process.env.RELOAD_PLANTED_SECRET;
  await guard?.close();
  await double?.close();
  guard = undefined;
  double = undefined;
});

describe('secrets in a refused reload', () => {
  it('stay out of the log lines, the audit event and the answer', async () => {
    double = await startOcommsDouble();
    const stack = await startTestGuard(double.url);
    guard = stack;
    process.env.RELOAD_PLANTED_SECRET = `${fromEnvironment} is not a number`;
    writeFileSync(
      stack.configFile,
      [
        `upstream: { url: "ftp://ops:${typedIn}@db.example.com/" }`,
        `dataDir: "${stack.dataDir}"`,
        'limits: { maxHeadersCount: "${RELOAD_PLANTED_SECRET}" }',
      ].join('\n'),
    );

    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({ status: 'refused', code: 'GUARD_ERR_CONFIG_INVALID' });
    const refusal = stack.logs.find((line) => line.msg === 'configuration reload refused');
    expect(refusal?.problems).toEqual([
      expect.stringContaining('upstream.url (line 1)'),
      expect.stringContaining('limits.maxHeadersCount (line 3)'),
    ]);
    const everything = `${stack.logText()}\n${JSON.stringify(outcome)}`;
    expect(everything).toContain('ftp://[redacted]@db.example.com');
    expect(everything).toContain('(a secret value, not shown)');
    expect(everything).not.toContain(fromEnvironment);
    expect(everything).not.toContain(typedIn);
  });
});
