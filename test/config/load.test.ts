import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, formatProblems, loadConfigFile, parseConfigText } from '../../config/load.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('explains a listen address written as a bare port number', () => {
    const error = problemsOf('upstream: { url: http://127.0.0.1:3000 }\nlisten: { https: 8443 }\n');
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ path: 'listen.https', line: 2, found: '8443' });
    expect(error.problems[0]?.hint).toContain('":8443"');
  });

  it('accepts a file holding only upstream.url and fills in safe defaults', () => {
    const config = parseConfigText('upstream:\n  url: http://127.0.0.1:3000\n', 'min.yaml');
    expect(config.preset).toBe('ocomms');
    expect(config.listen).toEqual({ https: ':8443', http: ':8080', admin: '127.0.0.1:9090' });
    expect(config.tls.mode).toBe('internal');
    expect(config.routes.map((route) => route.name)).toContain('sign-in');
    expect(config.routes.find((route) => route.name === 'upload-attachment')?.maxBodyBytes).toBe(
      26 * 1024 * 1024,
    );
  });

  it('freezes what it loaded', () => {
    const config = parseConfigText('upstream:\n  url: http://127.0.0.1:3000\n', 'min.yaml');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.upstream)).toBe(true);
    expect(() => {
      (config.upstream as { url: string }).url = 'http://evil';
    }).toThrow(TypeError);
  });

  it('reports every problem at once with its path, line, the value found and a hint', () => {
    const error = problemsOf(
      [
        'upstrem: 1',
        'upstream:',
        '  url: ftp://x',
        '  timeout: 5',
        'trustedProxies: ["10.0.0.0/33"]',
        'limits:',
        '  maxHeadersCount: lots',
        'headers:',
        '  xFrameOption: DENY',
      ].join('\n'),
    );
    const byPath = Object.fromEntries(error.problems.map((problem) => [problem.path, problem]));
    expect(byPath.upstrem).toMatchObject({ line: 1, hint: 'did you mean "upstream"?' });
    expect(byPath['upstream.url']).toMatchObject({ line: 3, found: '"ftp://x"' });
    expect(byPath['upstream.timeout']?.hint).toContain('upstream.responseTimeoutMs');
    expect(byPath['trustedProxies.0']).toMatchObject({ line: 5, found: '"10.0.0.0/33"' });
    expect(byPath['limits.maxHeadersCount']).toMatchObject({ line: 7, found: '"lots"' });
    expect(byPath['headers.xFrameOption']?.hint).toBe('did you mean "xFrameOptions"?');
    expect(error.problems).toHaveLength(6);
    expect(formatProblems(error)).toContain('upstream.url (line 3): Invalid URL; found "ftp://x"');
  });

  it('refuses YAML it cannot parse, duplicate keys included', () => {
    const error = problemsOf('upstream:\n  url: http://a\n  url: http://b\n');
    expect(error.problems[0]?.message).toMatch(/unique|duplicate/i);
  });

  it('reads secrets from the environment and from files, never requiring them in YAML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'guard-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'host.txt'), 'app.internal\n');
    writeFileSync(
      join(dir, 'config.yaml'),
      'upstream:\n  url: "http://${APP_HOST}:3000"\ntls:\n  domains: ["${PUBLIC_NAME}"]\n',
    );
    const { config } = loadConfigFile(join(dir, 'config.yaml'), {
      APP_HOST: '127.0.0.1',
      PUBLIC_NAME: 'chat.example.com',
    });
    expect(config.upstream.url).toBe('http://127.0.0.1:3000');
    expect(config.tls.domains).toEqual(['chat.example.com']);

    const missing = problemsOf('upstream:\n  url: "http://${NOT_SET}:3000"\n');
    expect(missing.problems[0]).toMatchObject({ path: 'upstream.url' });
    expect(missing.problems[0]?.message).toContain('NOT_SET is not set');
  });

  it('replaces a "...File" key by the content of the file it names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'guard-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'upstream-url'), 'http://127.0.0.1:4000\n');
    writeFileSync(join(dir, 'config.yaml'), 'upstream:\n  urlFile: upstream-url\n');
    const { config } = loadConfigFile(join(dir, 'config.yaml'), {});
    expect(config.upstream.url).toBe('http://127.0.0.1:4000');
  });

  it('lets listed routes replace preset routes by name', () => {
    const config = parseConfigText(
      [
        'upstream: { url: "http://127.0.0.1:3000" }',
        'routes:',
        '  - { name: upload-attachment, path: /api/upload/attachment, maxBodyBytes: 50MiB }',
      ].join('\n'),
      'routes.yaml',
    );
    const uploads = config.routes.filter((route) => route.name === 'upload-attachment');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]?.maxBodyBytes).toBe(50 * 1024 * 1024);
  });

  it('needs certificate files in files mode', () => {
    const error = problemsOf('upstream: { url: "http://127.0.0.1:3000" }\ntls: { mode: files }\n');
    expect(error.problems[0]).toMatchObject({ path: 'tls.files' });
  });
});
