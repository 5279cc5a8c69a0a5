import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.ts';

const base = 'upstream:\n  url: http://127.0.0.1:3000\n';

function problemPaths(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((problem) => problem.path);
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('admin allow-list, cross-origin and CSP report settings', () => {
  it('defaults to no allow-list, own origins and no report endpoint', () => {
    const config = parseConfigText(base, 'min.yaml');
    expect(config.adminAccess).toEqual({ allow: [], groups: {}, actionIds: [] });
    expect(config.crossOrigin).toMatchObject({
      enabled: true,
      allowedOrigins: [],
      withoutOrigin: 'refuse-with-cookies',
    });
    expect(config.cspReports).toMatchObject({ enabled: false, path: '/_guard/csp-report' });
  });

  it('turns the allow-list on with one line, IPv4 and IPv6 alike', () => {
    const config = parseConfigText(
      `${base}adminAccess: { allow: ["10.0.0.0/8", "2001:db8::/32", "::1"] }\n`,
      'one.yaml',
    );
    expect(config.adminAccess.allow).toHaveLength(3);
  });

  it('refuses bad networks, unknown groups, origins with paths and unknown choices', () => {
    const paths = problemPaths(`${base}adminAccess:
  allow: ["10.0.0.0/33", "not-an-address"]
  groups: { billing: false }
  actionIds: ["not hex"]
crossOrigin:
  allowedOrigins: ["https://chat.example.com/app", "chat.example.com"]
  withoutOrigin: maybe
cspReports:
  path: "relative"
  maxBytes: lots
`);
    for (const path of [
      'adminAccess.allow.0',
      'adminAccess.allow.1',
      'adminAccess.groups.billing',
      'adminAccess.actionIds.0',
      'crossOrigin.allowedOrigins.0',
      'crossOrigin.allowedOrigins.1',
      'crossOrigin.withoutOrigin',
      'cspReports.path',
      'cspReports.maxBytes',
    ]) {
      expect(paths).toContain(path);
    }
  });

  it('accepts the example with its commented allow-list uncommented and reports on', () => {
    const example = readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8');
    const lines = example.split('\n');
    const start = lines.indexOf('# adminAccess:');
    let end = start;
    while (lines[end]?.startsWith('# ')) end += 1;
    const enabled = lines.map((line, index) => {
      if (index >= start && index < end) return line.slice(2);
      return line.replace(/^ {2}enabled: false$/, '  enabled: true');
    });
    const config = parseConfigText(enabled.join('\n'), 'config.example.yaml');
    expect(config.adminAccess.allow).toHaveLength(2);
    expect(config.adminAccess.groups.settings).toBe(false);
    expect(config.cspReports.enabled).toBe(true);
    expect(config.crossOrigin.enabled).toBe(true);
  });
});
