import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../config/load.ts';
import { planReload } from '../../config/reload-plan.ts';

const base = 'upstream: { url: "http://127.0.0.1:3000" }\n';

describe('reload plan', () => {
  it('applies reloadable sections and keeps the running value of the others', () => {
    const running = parseConfigText(base, 'running.yaml');
    const next = parseConfigText(
      `${base}dataDir: /elsewhere\nlog: { level: debug }\nheaders: { xFrameOptions: SAMEORIGIN }\n`,
      'next.yaml',
    );

    const plan = planReload(running, next);

    expect(plan.changed).toEqual(['headers']);
    expect(plan.restartRequired).toEqual(['dataDir', 'log']);
    expect(plan.config.dataDir).toBe(running.dataDir);
    expect(plan.config.log).toBe(running.log);
    expect(plan.config.headers).toBe(next.headers);
    expect(Object.isFrozen(plan.config)).toBe(true);
  });

  it('finds nothing to do in an unchanged file', () => {
    const plan = planReload(parseConfigText(base, 'a.yaml'), parseConfigText(base, 'b.yaml'));
    expect(plan).toMatchObject({ changed: [], restartRequired: [] });
  });
});

describe('reload plan with ACME', () => {
  it('keeps the running tls when either side uses ACME', () => {
    const running = parseConfigText(base, 'running.yaml');
    const acme = [
      'tls:',
      '  mode: acme',
      '  domains: [chat.example.com]',
      '  acme: { email: ops@example.com, acceptTermsOfService: true }',
    ].join('\n');
    const next = parseConfigText(`${base}${acme}\n`, 'next.yaml');

    const plan = planReload(running, next);

    expect(plan.restartRequired).toEqual(['tls']);
    expect(plan.changed).toEqual([]);
    expect(plan.config.tls).toBe(running.tls);
  });
});
