import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOnSomePort } from './free-port-retry.ts';

export type TestPostgresOptions = {
  /** The server's certificate and key; false for a server without TLS. */
  tls: { certPath: string; keyPath: string } | false;
  /** With TLS: also require a client certificate from this CA, naming the user. */
  clientCaPath?: string;
};

export type TestPostgres = {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** postgres://USER:PASSWORD@HOST:PORT/DATABASE, without TLS parameters. */
  url(host?: string): string;
  /** Runs SQL as the superuser over the server's own Unix socket; returns psql's output. */
  psql(sql: string): string;
  stop(): void;
  start(): void;
  close(): void;
};

const user = 'guard';
const database = 'guard';

// A throwaway PostgreSQL cluster on 127.0.0.1 that takes TCP connections over
// TLS only (hostssl) or, when asked, without TLS only (hostnossl), so that
// clients are tested against the real handshake. As root, the server runs as
// the postgres user, which owns the cluster's folder.
export async function startTestPostgres(options: TestPostgresOptions): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'guard-pg-'));
  const data = join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const owner = serverOwner();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  run(owner, 'initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject']);
  configure(dir, data, options, owner);

  const start = (candidate: number): 'port-taken' | number => {
    try {
      const args = ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30'];
      run(owner, 'pg_ctl', [...args, '-o', `-p ${candidate}`, 'start']);
      return candidate;
    } catch (error) {
      const log = readFileSync(join(dir, 'log'), 'utf8');
      if (/could not bind|address already in use/i.test(log)) return 'port-taken';
      throw new Error(`postgres did not start: ${(error as Error).message}\n${log}`);
    }
  };
  const port = await startOnSomePort(async (candidate) => start(candidate));
  const psql = (db: string, sql: string): string => {
    const args = ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', db];
    return run(owner, 'psql', [...args, '-v', 'ON_ERROR_STOP=1', '-tAc', sql]);
  };
  psql('postgres', `create role ${user} login superuser password '${password}'`);
  psql('postgres', `create database ${database} owner ${user}`);

  return {
    port,
    user,
    password,
    database,
    url: (host = '127.0.0.1') => `postgres://${user}:${password}@${host}:${port}/${database}`,
    psql: (sql) => psql(database, sql),
    stop: () => {
      run(owner, 'pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    start: () => {
      if (start(port) === 'port-taken')
        throw new Error(`postgres port ${port} was taken meanwhile`);
    },
    close: () => {
      try {
        run(owner, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function configure(
  dir: string,
  data: string,
  options: TestPostgresOptions,
  owner: Owner | undefined,
): void {
  const lines = [
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 200',
  ];
  if (options.tls) {
    for (const [source, name] of [
      [options.tls.certPath, 'server.crt'],
      [options.tls.keyPath, 'server.key'],
    ] as const) {
      const target = join(data, name);
      copyFileSync(source, target);
      chmodSync(target, 0o600);
      if (owner) chownSync(target, owner.uid, owner.gid);
    }
    lines.push('ssl = on', "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'");
    if (options.clientCaPath) {
      copyFileSync(options.clientCaPath, join(data, 'client-ca.crt'));
      lines.push("ssl_ca_file = 'client-ca.crt'");
    }
  } else {
    lines.push('ssl = off');
  }
  appendFileSync(join(data, 'postgresql.conf'), `${lines.join('\n')}\n`);
  const hostLine = options.tls ? 'hostssl' : 'hostnossl';
  const clientCert = options.tls && options.clientCaPath ? ' clientcert=verify-full' : '';
  writeFileSync(
    join(data, 'pg_hba.conf'),
    `local all all trust\n${hostLine} all all 127.0.0.1/32 scram-sha-256${clientCert}\n`,
  );
}

type Owner = { uid: number; gid: number };

function serverOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

let binDir: string | undefined;

function bin(name: string): string {
  if (!binDir) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    if (!versions[0]) throw new Error('no PostgreSQL under /usr/lib/postgresql');
    binDir = join('/usr/lib/postgresql', versions[0], 'bin');
  }
  return join(binDir, name);
}

function run(owner: Owner | undefined, name: string, args: string[]): string {
  const command = owner ? 'runuser' : bin(name);
  const argv = owner ? ['-u', 'postgres', '--', bin(name), ...args] : args;
  return execFileSync(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
}
