import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOnSomePort } from './free-port-retry.ts';
import { createTestCa } from './test-ca.ts';

export type PebbleOptions = {
  /** The guard's plain-HTTP port: Pebble validates HTTP-01 there. */
  httpPort: number;
  /** The guard's HTTPS port: Pebble validates TLS-ALPN-01 there. */
  tlsPort: number;
  /** Lifetime of issued certificates (Pebble's default is five years). */
  certificateValiditySeconds?: number;
  /** Share of good nonces Pebble rejects, so that clients must retry. */
  nonceRejectPercent?: number;
  /** External account binding keys (kid to base64url HMAC key); required when given. */
  externalAccountKeys?: Record<string, string>;
};

export type TestPebble = {
  /** https://localhost:PORT/dir */
  readonly directoryUrl: string;
  /** The CA that signed Pebble's own HTTPS certificate (for the ACME client). */
  readonly caBundlePath: string;
  /** Pebble's root for the certificates it issues (changes with every start). */
  issuerRoot(): Promise<string>;
  /** Makes the DNS answer `address` for `host` (127.0.0.2: nothing listens, validation fails). */
  setAddress(host: string, address: string): Promise<void>;
  /** Back to the default answer, 127.0.0.1. */
  clearAddress(host: string): Promise<void>;
  /** Accounts Pebble created since it started, counted from its log. */
  accountsCreated(): number;
  /** Orders Pebble created since it started, counted from its log. */
  ordersCreated(): number;
  log(): string;
  close(): Promise<void>;
};

// Let's Encrypt's test CA with its DNS companion: every name resolves to
// 127.0.0.1, so Pebble really validates challenges against the guard's ports.
export async function startTestPebble(options: PebbleOptions): Promise<TestPebble> {
  const dir = mkdtempSync(join(tmpdir(), 'guard-pebble-'));
  const ca = createTestCa('pebble-api-ca');
  const leaf = ca.issue('localhost', ['localhost', '127.0.0.1']);

  const caBundle = readFileSync(ca.certPath);

  const dns = await startOnSomePort(async (port) => {
    const managementPort = port + 1;
    const args = ['-dns01', `127.0.0.1:${port}`, '-management', `127.0.0.1:${managementPort}`];
    args.push('-http01', '', '-https01', '', '-tlsalpn01', '');
    args.push('-defaultIPv4', '127.0.0.1', '-defaultIPv6', '');
    const started = await launch('pebble-challtestsrv', args, {}, /Starting management server/);
    if (started === 'port-taken') return started;
    // challtestsrv keeps running when one of its ports is taken, and says so
    // only after its ready line for the management port. Its DNS would then
    // answer nothing, or both ports would be another test's instance, whose
    // names this test would change. A record set through the management port
    // and read back here proves both answer; by then a failed bind is logged.
    const answers = await answersThroughBoth(port, managementPort);
    await new Promise((settle) => setTimeout(settle, 100));
    if (answers && !/address already in use/i.test(started.output)) {
      return { port, child: started };
    }
    await stop(started);
    return 'port-taken';
  });

  const pebble = await startOnSomePort(async (port) => {
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${port + 1}`,
        certificate: leaf.certPath,
        privateKey: leaf.keyPath,
        httpPort: options.httpPort,
        tlsPort: options.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: options.externalAccountKeys !== undefined,
        externalAccountMACKeys: options.externalAccountKeys ?? {},
        ...(options.certificateValiditySeconds
          ? { certificateValidityPeriod: options.certificateValiditySeconds }
          : {}),
      },
    };
    const configPath = join(dir, 'pebble.json');
    writeFileSync(configPath, JSON.stringify(config));
    const env = {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: String(options.nonceRejectPercent ?? 10),
      PEBBLE_AUTHZREUSE: '0',
    };
    const args = ['-config', configPath, '-dnsserver', `127.0.0.1:${dns.port}`];
    const started = await launch('pebble', args, env, /ACME directory available/);
    if (started === 'port-taken') return started;
    if (await servesOurCertificate(port, caBundle, started)) return { port, child: started };
    await stop(started);
    return 'port-taken';
  });

  const output = () => (pebble.child as LaunchedChild).output;
  return {
    directoryUrl: `https://localhost:${pebble.port}/dir`,
    caBundlePath: ca.certPath,
    issuerRoot: () => fetchText(`https://localhost:${pebble.port + 1}/roots/0`, caBundle),
    accountsCreated: () => count(output(), /There are now \d+ accounts in memory/g),
    ordersCreated: () => count(output(), /There are now \d+ orders in the db/g),
    setAddress: (host, address) => manage(dns.port + 1, '/add-a', { host, addresses: [address] }),
    clearAddress: (host) => manage(dns.port + 1, '/clear-a', { host }),
    log: output,
    async close() {
      await stop(pebble.child);
      await stop(dns.child);
      rmSync(dir, { recursive: true, force: true });
      rmSync(ca.dir, { recursive: true, force: true });
    },
  };
}

type LaunchedChild = ChildProcess & { output: string };

function launch(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<LaunchedChild | 'port-taken'> {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as LaunchedChild;
  child.output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not start:\n${child.output}`));
    }, 15000);
    const collect = (chunk: Buffer) => {
      child.output += chunk.toString('utf8');
      if (!ready.test(child.output)) return;
      clearTimeout(timer);
      if (!/address already in use/i.test(child.output)) return resolve(child);
      child.kill('SIGKILL');
      resolve('port-taken');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('exit', () => {
      clearTimeout(timer);
      if (/address already in use/i.test(child.output)) resolve('port-taken');
      else reject(new Error(`${command} exited:\n${child.output}`));
    });
  });
}

async function answersThroughBoth(dnsPort: number, managementPort: number): Promise<boolean> {
  const host = `probe-${randomBytes(6).toString('hex')}.guard.test`;
  const address = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`;
  const resolver = new Resolver({ timeout: 1000, tries: 3 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  try {
    await manage(managementPort, '/add-a', { host, addresses: [address] });
    const answered = await resolver.resolve4(host);
    await manage(managementPort, '/clear-a', { host });
    return answered.length === 1 && answered[0] === address;
  } catch {
    return false;
  }
}

// Pebble prints its ready line before it binds its ports, and exits when one
// is taken; until then another test's Pebble may be the one answering there.
// Only this one presents the certificate of this fixture's own CA.
async function servesOurCertificate(
  port: number,
  ca: Buffer,
  child: LaunchedChild,
): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      await fetchText(`https://localhost:${port}/dir`, ca);
      await fetchText(`https://localhost:${port + 1}/roots/0`, ca);
      return true;
    } catch (error) {
      // Refused: not bound yet. Anything else, a certificate of another CA
      // above all, is someone else's server.
      if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') return false;
    }
    await new Promise((settle) => setTimeout(settle, 50));
  }
  return false;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

async function manage(port: number, path: string, body: unknown): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`challtestsrv ${path}: ${response.status}`);
}

function fetchText(url: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    });
    req.once('error', reject);
    req.end();
  });
}
