import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, formatProblems, parseConfigText } from '../../config/load.ts';
import { cliPath, repoRoot } from '../support/spawn-guard.ts';
import { createTestCa } from '../support/test-ca.ts';

// `check` reads every certificate and key file the configuration names, so a
// file that cannot work is found before the guard starts.

const dir = mkdtempSync(join(tmpdir(), 'guard-files-'));
const ca = createTestCa('files-ca');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(ca.dir, { recursive: true, force: true });
});

const leaf = ca.issue('guard.test', ['guard.test']);
const other = ca.issue('other.test', ['other.test']);
const missing = join(dir, 'absent.pem');

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function problemsOf(config: Record<string, unknown>): string {
  const text = stringify({ upstream: { url: 'http://127.0.0.1:3000' }, ...config });
  try {
    parseConfigText(text, 'files.yaml', {}, { checkFiles: true });
    return '';
  } catch (error) {
    if (error instanceof ConfigError) return formatProblems(error);
    throw error;
  }
}

// A certificate whose validity ended yesterday, with its own key.
function expiredPair(): { cert: string; key: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const exported = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(
    publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  );
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 10 * 86_400_000);
  cert.validity.notAfter = new Date(Date.now() - 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'expired.test' }]);
  cert.setIssuer([{ name: 'commonName', value: 'expired.test' }]);
  cert.sign(forge.pki.privateKeyFromPem(exported), forge.md.sha256.create());
  return {
    cert: file('expired.crt', forge.pki.certificateToPem(cert)),
    key: file('expired.key', exported),
  };
}

describe('check reads the files the configuration names', () => {
  it('accepts readable certificates, CAs and a key that matches its certificate', () => {
    const problems = problemsOf({
      tls: { mode: 'files', files: { cert: leaf.certPath, key: leaf.keyPath } },
      upstream: { url: 'https://127.0.0.1:3000', ca: ca.certPath },
      store: { redis: { url: 'rediss://localhost:6380', ca: ca.certPath } },
      dbTunnel: {
        target: 'db.test',
        tls: { ca: ca.certPath, cert: other.certPath, key: other.keyPath },
      },
    });
    expect(problems).toBe('');
  });

  it('reports each unusable file at its key and line, with the path found', () => {
    const garbage = file('garbage.pem', 'not a certificate at all\n');
    const pem = readFileSync(ca.certPath, 'utf8');
    const truncated = file('truncated.pem', pem.replace(/\n[A-Za-z0-9+/=]{20,}\n/, '\nAAAA\n'));
    const problems = problemsOf({
      tls: { mode: 'files', files: { cert: missing, key: leaf.keyPath } },
      upstream: { url: 'https://127.0.0.1:3000', ca: garbage },
      store: { redis: { url: 'rediss://localhost:6380', ca: truncated } },
      dbTunnel: { target: 'db.test', tls: { ca: missing } },
    });
    expect(problems).toMatch(
      new RegExp(
        `tls\\.files\\.cert \\(line \\d+\\): ` +
          `the file cannot be read \\(ENOENT\\); found ${missing}`,
      ),
    );
    expect(problems).toMatch(
      /upstream\.ca \(line \d+\): the file holds no PEM certificate; found /,
    );
    expect(problems).toContain('store.redis.ca');
    expect(problems).toMatch(
      /store\.redis\.ca \(line \d+\): the file holds a certificate that cannot be parsed/,
    );
    expect(problems).toMatch(/dbTunnel\.tls\.ca \(line \d+\): the file cannot be read \(ENOENT\)/);
    expect(problems.split('\n')[0]).toBe('files.yaml: 4 error(s)');
  });

  it('refuses a key that belongs to another certificate', () => {
    const problems = problemsOf({
      tls: { mode: 'files', files: { cert: leaf.certPath, key: other.keyPath } },
    });
    expect(problems).toMatch(
      /tls\.files\.key \(line \d+\): the key does not belong to the first certificate in tls\.files\.cert/,
    );
  });

  it('refuses a served certificate that has expired, and names the date', () => {
    const expired = expiredPair();
    const problems = problemsOf({ tls: { mode: 'files', files: expired } });
    expect(problems).toMatch(/tls\.files\.cert \(line \d+\): the certificate expired on 20\d\d-/);
    expect(problems).not.toContain('tls.files.key');
  });

  it('refuses a key with a passphrase and never prints what a key file holds', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const locked = privateKey
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass-s3cret' })
      .toString();
    const lockedPath = file('locked.key', locked);
    const problems = problemsOf({
      audit: {
        postgres: {
          url: 'postgres://guard@db.test/audit',
          tls: { ca: ca.certPath, cert: other.certPath, key: lockedPath },
        },
      },
    });
    expect(problems).toMatch(
      /audit\.postgres\.tls\.key \(line \d+\): the file holds no usable private key/,
    );
    const keyBody = locked.split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(20);
    expect(problems).not.toContain(keyBody);
    expect(problems).not.toContain('pass-s3cret');
  });

  it('only when asked: loading for a start reads no file', () => {
    const text = stringify({
      upstream: { url: 'https://127.0.0.1:3000', ca: missing },
    });
    expect(parseConfigText(text, 'files.yaml', {}).upstream.ca).toBe(missing);
  });
});

describe('ocomms-guard check', () => {
  it('reads no FIFO, device, folder or huge file, and says what each is', async () => {
    const fifo = join(dir, 'fifo.pem');
    execFileSync('mkfifo', [fifo]);
    const folder = join(dir, 'folder.pem');
    mkdirSync(folder);
    const huge = file('huge.pem', '');
    truncateSync(huge, 64 * 1024 * 1024);
    const config = file(
      'odd-files.yaml',
      stringify({
        upstream: { url: 'https://127.0.0.1:3000', ca: folder },
        dataDir: dir,
        tls: { mode: 'files', files: { cert: fifo, key: '/dev/zero' } },
        store: { redis: { url: 'rediss://localhost:6380', ca: huge } },
      }),
    );
    const run = promisify(execFile);
    const failed = await run(process.execPath, [cliPath, 'check', '--config', config], {
      cwd: repoRoot,
      timeout: 10000,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    const stderr = failed?.stderr ?? '';
    expect(stderr).toMatch(/tls\.files\.cert \(line \d+\): .*\(a FIFO, not a regular file\)/);
    expect(stderr).toMatch(/tls\.files\.key \(line \d+\): .*\(a device, not a regular file\)/);
    expect(stderr).toMatch(/upstream\.ca \(line \d+\): .*\(a directory, not a regular file\)/);
    expect(stderr).toMatch(/store\.redis\.ca \(line \d+\): .*\(larger than 4 MiB\)/);
  });

  it('exits 1 and prints the file problem with its key', async () => {
    const config = file(
      'check.yaml',
      stringify({
        upstream: { url: 'http://127.0.0.1:3000' },
        dataDir: dir,
        tls: { mode: 'files', files: { cert: leaf.certPath, key: missing } },
      }),
    );
    const run = promisify(execFile);
    const failed = await run(process.execPath, [cliPath, 'check', '--config', config], {
      cwd: repoRoot,
      timeout: 30000,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(
      /tls\.files\.key \(line \d+\): the file cannot be read \(ENOENT\); found /,
    );
  });
});
