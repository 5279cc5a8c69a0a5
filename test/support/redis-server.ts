import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOnSomePort } from './free-port-retry.ts';
import { createTestCa, type TestCa } from './test-ca.ts';

export type TestRedisOptions = {
  /**
   * TLS only (no plaintext port), with a server certificate for `names`
   * (default localhost and 127.0.0.1) signed by `ca` (default: a CA of its own).
   */
  tls?: { ca?: TestCa; names?: readonly string[] };
  /** Clients must AUTH with this password (`--requirepass`). */
  password?: string;
};

export type TestRedis = {
  readonly port: number;
  /** redis://127.0.0.1:PORT, or rediss://localhost:PORT with TLS; no credentials. */
  readonly url: string;
  /** With TLS: the CA file that signed the server certificate. */
  readonly caPath: string | undefined;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
};

// A throwaway redis-server on loopback: no persistence, its own folder.
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'guard-redis-'));
  const ownCa = options.tls && !options.tls.ca ? createTestCa('redis-ca') : undefined;
  const ca = options.tls?.ca ?? ownCa;
  const extra = options.password ? ['--requirepass', options.password] : [];
  if (ca) extra.push(...tlsArgs(ca, options.tls?.names ?? ['localhost', '127.0.0.1']));
  let child: ChildProcess | undefined;
  const port = await startOnSomePort(async (candidate) => {
    const started = await launch(candidate, dir, extra, ca !== undefined);
    if (started === 'port-taken') return started;
    child = started;
    return candidate;
  });

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };
  return {
    port,
    url: ca ? `rediss://localhost:${port}` : `redis://127.0.0.1:${port}`,
    caPath: ca?.certPath,
    stop,
    async restart() {
      await stop();
      const started = await launch(port, dir, extra, ca !== undefined);
      if (started === 'port-taken') throw new Error(`redis port ${port} was taken meanwhile`);
      child = started;
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      if (ownCa) rmSync(ownCa.dir, { recursive: true, force: true });
    },
  };
}

// Clients are not asked for certificates: the guard authenticates with a
// password, and the server with its certificate.
function tlsArgs(ca: TestCa, names: readonly string[]): string[] {
  const leaf = ca.issue(names[0] ?? 'localhost', names);
  return [
    '--tls-cert-file',
    leaf.certPath,
    '--tls-key-file',
    leaf.keyPath,
    '--tls-ca-cert-file',
    ca.certPath,
    '--tls-auth-clients',
    'no',
  ];
}

// With tlsOnly the plaintext port is closed (0) and `port` speaks TLS.
function launch(
  port: number,
  dir: string,
  extra: readonly string[] = [],
  tlsOnly = false,
): Promise<ChildProcess | 'port-taken'> {
  const args = tlsOnly ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
  args.push('--bind', '127.0.0.1', '--save', '', '--appendonly', 'no');
  args.push('--dir', dir, '--logfile', '', ...extra);
  return launchWith(args, 'Ready to accept connections');
}

function launchWith(args: string[], readyMarker: string): Promise<ChildProcess | 'port-taken'> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start:\n${output}`));
    }, 10000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes(readyMarker)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      if (/address already in use/i.test(output)) resolve('port-taken');
      else reject(new Error(`redis-server exited:\n${output}`));
    });
  });
}

export type TestRedisGroup = {
  /** "127.0.0.1:PORT" of each process. */
  readonly nodes: readonly string[];
  close(): Promise<void>;
};

/** A Sentinel watching the server on masterPort under the name "mymaster". */
export async function startTestSentinel(masterPort: number): Promise<TestRedisGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'guard-sentinel-'));
  let child: ChildProcess | undefined;
  const port = await startOnSomePort(async (candidate) => {
    const file = join(dir, 'sentinel.conf');
    const monitor = `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`;
    writeFileSync(file, `port ${candidate}\nbind 127.0.0.1\n${monitor}\n`);
    const started = await launchSentinel(file, dir);
    if (started === 'port-taken') return started;
    child = started;
    return candidate;
  });
  return {
    nodes: [`127.0.0.1:${port}`],
    async close() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Sentinel rewrites its file, so each attempt writes a fresh one in the folder.
function launchSentinel(file: string, dir: string) {
  return launchWith([file, '--sentinel', '--dir', dir, '--logfile', ''], '+monitor master');
}

/** Three masters sharing the hash slots, without replicas. */
export async function startTestCluster(): Promise<TestRedisGroup> {
  const dir = mkdtempSync(join(tmpdir(), 'guard-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  try {
    for (const _ of [1, 2, 3]) {
      const port = await startOnSomePort(async (candidate) => {
        // Each node also listens on its port + 10000 for the cluster bus.
        if (candidate + 10000 > 65535) return 'port-taken';
        const args = [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `node-${candidate}.conf`,
        ];
        const started = await launch(candidate, dir, args);
        if (started === 'port-taken') return started;
        children.push(started);
        return candidate;
      });
      ports.push(port);
    }
    const nodes = ports.map((port) => `127.0.0.1:${port}`);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await waitForClusterOk(ports);
    return {
      nodes,
      async close() {
        await Promise.all(children.map((child) => stopChild(child)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(children.map((child) => stopChild(child)));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function waitForClusterOk(ports: readonly number[]): Promise<void> {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const states = await Promise.all(
      ports.map((port) => run('redis-cli', ['-p', String(port), 'cluster', 'info'])),
    );
    if (states.every((state) => state.includes('cluster_state:ok'))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the test cluster never reported cluster_state:ok');
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: 20000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
