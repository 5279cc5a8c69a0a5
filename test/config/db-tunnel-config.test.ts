import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, parseConfigText } from '../../config/load.ts';

const base = 'upstream:\n  url: http://127.0.0.1:3000\n';

function load(tunnel: string) {
  return parseConfigText(`${base}dbTunnel:\n${tunnel}`, 'tunnel.yaml', {});
}

function problems(tunnel: string): string {
  try {
    load(tunnel);
  } catch (error) {
    if (error instanceof ConfigError) return formatProblems(error);
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('dbTunnel configuration', () => {
  it('is absent by default and fills in safe defaults when present', () => {
    expect(parseConfigText(base, 'min.yaml', {}).dbTunnel).toBeUndefined();
    const config = load('  target: db.example.com\n  tls: { ca: /etc/db-ca.pem }\n');
    expect(config.dbTunnel).toEqual({
      listen: '127.0.0.1:6432',
      allowNonLoopback: false,
      target: 'db.example.com',
      negotiation: 'postgres',
      tls: { ca: '/etc/db-ca.pem' },
      connectTimeoutMs: 5000,
      maxConnections: 500,
    });
  });

  it('refuses a listen address beyond loopback unless explicitly allowed', () => {
    for (const listen of ['":6432"', '"0.0.0.0:6432"', '"10.1.2.3:6432"', '"[::]:6432"']) {
      const text = problems(`  listen: ${listen}\n  target: db:5432\n  tls: { ca: /ca.pem }\n`);
      expect(text).toMatch(/dbTunnel\.listen \(line 4\): the tunnel listens in plaintext/);
    }
    for (const listen of ['"127.0.0.1:6432"', '"[::1]:6432"', '"localhost:6432"']) {
      const config = load(`  listen: ${listen}\n  target: db:5432\n  tls: { ca: /ca.pem }\n`);
      expect(config.dbTunnel?.listen).toBe(JSON.parse(listen));
    }
    const allowed = load(
      '  listen: "10.1.2.3:6432"\n  allowNonLoopback: true\n  target: db\n  tls: { ca: /ca.pem }\n',
    );
    expect(allowed.dbTunnel?.allowNonLoopback).toBe(true);
  });

  it('needs a target and a CA, and a client key with a client certificate', () => {
    const missing = problems('  listen: "127.0.0.1:6432"\n');
    expect(missing).toMatch(/dbTunnel\.target/);
    expect(missing).toMatch(/dbTunnel\.tls/);
    expect(problems('  target: "db:99999"\n  tls: { ca: /ca.pem }\n')).toMatch(
      /dbTunnel\.target.*expected "host:port"/,
    );
    expect(problems('  target: db\n  tls: { ca: /ca.pem, cert: /c.pem }\n')).toMatch(
      /dbTunnel\.tls\.key.*needs both/,
    );
    expect(problems('  target: db\n  negotiation: ssl\n  tls: { ca: /ca.pem }\n')).toMatch(
      /dbTunnel\.negotiation/,
    );
    expect(problems('  target: db\n  tls: { ca: /ca.pem }\n  verify: false\n')).toMatch(
      /dbTunnel\.verify.*unknown key/,
    );
  });
});

describe('the commented example in config.example.yaml', () => {
  it('validates once uncommented', () => {
    const example = readFileSync(new URL('../../config.example.yaml', import.meta.url), 'utf8');
    const lines = example.split('\n');
    const start = lines.indexOf('# dbTunnel:');
    expect(start).toBeGreaterThan(0);
    const block: string[] = [];
    for (const line of lines.slice(start)) {
      if (!line.startsWith('#')) break;
      block.push(line.replace(/^# ?/, ''));
    }
    const config = parseConfigText(`${example}\n${block.join('\n')}\n`, 'example.yaml', {});
    expect(config.dbTunnel).toMatchObject({
      listen: '127.0.0.1:6432',
      target: 'db.example.com:5432',
      serverName: 'db.example.com',
      negotiation: 'postgres',
    });
  });
});
