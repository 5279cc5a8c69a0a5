import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../config/load.ts';

const base = 'upstream:\n  url: http://127.0.0.1:3000\n';

function problemsOf(text: string) {
  try {
    parseConfigText(text, 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('store, rate limits and body inspection settings', () => {
  it('defaults to memory, the preset rules and inspected auth bodies', () => {
    const config = parseConfigText(base, 'min.yaml');
    expect(config.store.redis).toBeUndefined();
    const names = config.rateLimits.map((rule) => rule.name);
    for (const name of [
      'sign-in',
      'sign-in-account',
      'sign-up',
      'request-password-reset',
      'reset-password',
      'change-password',
      'two-factor',
      'organization',
      'admin',
      'upload',
      'socket-io-handshake',
    ]) {
      expect(names).toContain(name);
    }
    expect(config.rateLimits.every((rule) => rule.onStoreError === 'memory')).toBe(true);
    expect(config.rateLimitSettings.ipv6PrefixLength).toBe(64);
    const signIn = config.routes.find((route) => route.name === 'sign-in');
    expect(signIn?.body?.fields).toMatchObject({ email: 'string', password: 'string' });
    expect(config.bodyInspection).toEqual({
      maxBytes: 16384,
      maxDecodedBytes: 65536,
      maxRatio: 20,
      encodings: 'decode',
    });
  });

  it('lets a listed rule replace the preset rule of the same name', () => {
    const config = parseConfigText(
      `${base}rateLimits:
  - name: sign-in
    match: { path: /api/auth/sign-in/email, methods: [post] }
    key: [ip, account]
    limit: 20
    windowSeconds: 120
    onStoreError: deny
`,
      'override.yaml',
    );
    const rules = config.rateLimits.filter((rule) => rule.name === 'sign-in');
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ limit: 20, key: ['ip', 'account'], onStoreError: 'deny' });
    expect(rules[0]?.match.methods).toEqual(['POST']);
    expect(config.rateLimits.some((rule) => rule.name === 'sign-in-account')).toBe(true);
  });

  it('takes redis:// and rediss:// URLs with a prefix, and refuses others', () => {
    const tls = parseConfigText(
      `${base}store:\n  redis: { url: "rediss://cache.example:6380/2", keyPrefix: "g1:" }\n`,
      'tls.yaml',
    );
    expect(tls.store.redis).toMatchObject({ keyPrefix: 'g1:', commandTimeoutMs: 250 });
    const problems = problemsOf(`${base}store:\n  redis: { url: "http://cache:6379" }\n`);
    expect(problems.map((problem) => problem.path)).toContain('store.redis.url');
  });

  it('reports every invalid rule field with its path', () => {
    const problems = problemsOf(`${base}rateLimits:
  - name: Bad Name
    match: { path: no-slash }
    key: [ip, ip, cookie]
    limit: 0
    windowSeconds: 60
    onStoreError: maybe
rateLimitSettings: { exemptSources: ["not-an-ip"] }
bodyInspection: { encodings: sometimes }
`);
    const paths = problems.map((problem) => problem.path);
    for (const path of [
      'rateLimits.0.name',
      'rateLimits.0.match.path',
      'rateLimits.0.key.2',
      'rateLimits.0.limit',
      'rateLimits.0.onStoreError',
      'rateLimitSettings.exemptSources.0',
      'bodyInspection.encodings',
    ]) {
      expect(paths).toContain(path);
    }
  });
});

describe('rate limit rules that cannot work as written', () => {
  it('refuses two rules of one name', () => {
    const rule = `  - name: twice
    match: { path: /api/x }
    key: [ip]
    limit: 1
    windowSeconds: 1
`;
    const problems = problemsOf(`${base}rateLimits:\n${rule}${rule}`);
    expect(problems.map((problem) => problem.path)).toContain('rateLimits.1.name');
  });
});
