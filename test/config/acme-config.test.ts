import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, parseConfigText } from '../../config/load.ts';

const base = 'upstream: { url: "http://127.0.0.1:3000" }\n';

function refusal(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfigText(base + text, 'acme.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return formatProblems(error);
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('tls.mode acme configuration', () => {
  it("defaults to Let's Encrypt production, both challenges and ECDSA P-256", () => {
    const text =
      'tls:\n  mode: acme\n  domains: [chat.example.com]\n  acme:\n    acceptTermsOfService: true\n';
    const config = parseConfigText(base + text, 'acme.yaml');
    expect(config.tls.acme).toEqual({
      directoryUrl: 'letsencrypt',
      acceptTermsOfService: true,
      challenges: ['http-01', 'tls-alpn-01'],
      keyType: 'ecdsa-p256',
    });
  });

  it('refuses to run without the terms of service accepted explicitly', () => {
    expect(refusal('tls: { mode: acme }\n')).toContain('tls.acme.acceptTermsOfService: true');
  });

  it('refuses wildcard names and HTTP-01 without its listener', () => {
    const wildcard =
      'tls: { mode: acme, domains: ["*.example.com"], acme: { acceptTermsOfService: true } }\n';
    expect(refusal(wildcard)).toContain('DNS-01');
    const noListener =
      'listen: { http: false }\ntls: { mode: acme, acme: { acceptTermsOfService: true, challenges: [http-01] } }\n';
    expect(refusal(noListener)).toContain('http-01 needs listen.http');
  });

  it('takes the external account binding key from the environment, never showing it', () => {
    const eab = 'externalAccountBinding: { kid: kid-1, hmacKey: "${EAB_KEY}" }';
    const text = `tls: { mode: acme, acme: { acceptTermsOfService: true, ${eab} } }\n`;
    const config = parseConfigText(base + text, 'acme.yaml', { EAB_KEY: 'c2VjcmV0LWhtYWMta2V5' });
    expect(config.tls.acme?.externalAccountBinding?.hmacKey).toBe('c2VjcmV0LWhtYWMta2V5');
    const bad = `tls: { mode: acme, acme: { acceptTermsOfService: true, directoryUrl: "\${EAB_KEY}" } }\n`;
    const shown = refusal(bad, { EAB_KEY: 'c2VjcmV0LWhtYWMta2V5' });
    expect(shown).not.toContain('c2VjcmV0LWhtYWMta2V5');
  });

  it('accepts the commented acme block of config.example.yaml once uncommented', () => {
    const example = readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8');
    const lines = example.split('\n');
    const start = lines.indexOf('  # acme:');
    let end = start;
    while (lines[end]?.startsWith('  # ')) end += 1;
    const enabled = lines.map((line, index) => {
      if (line === '  mode: internal') return '  mode: acme';
      if (index < start || index >= end) return line;
      if (/caBundle|externalAccountBinding/.test(line)) return '';
      return `  ${line.slice(4)}`;
    });
    const config = parseConfigText(enabled.join('\n'), 'config.example.yaml');
    expect(config.tls.mode).toBe('acme');
    expect(config.tls.acme?.certificates).toHaveLength(2);
  });
});
