import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from 'undici';
import { stringify } from 'yaml';
import { createLogger } from '../../common/log.ts';
import { parseConfigText } from '../../config/load.ts';
import { type Guard, type GuardOptions, startGuard } from '../../proxy/guard.ts';

export type TestGuard = {
  guard: Guard;
  /** https://localhost:PORT */
  url: string;
  httpUrl: string;
  adminUrl: string;
  ca: Buffer;
  /** An undici dispatcher that trusts the guard's CA (and nothing is switched off). */
  agent: Agent;
  /** Every log line the guard wrote, parsed. */
  logs: Record<string, unknown>[];
  logText(): string;
  dataDir: string;
  /** The YAML file the guard was started with and reloads. */
  configFile: string;
  /** Writes a new configuration file: the start document with `changes` merged over it. */
  rewriteConfig(changes: Record<string, unknown>): void;
  close(): Promise<void>;
};

// Starts a guard on loopback port 0 with its own data directory, configured by
// the same YAML path sysadmins use (so defaults and presets apply), and keeps
// its log lines for assertions.
export async function startTestGuard(
  upstreamUrl: string,
  overrides: Record<string, unknown> = {},
  options: GuardOptions = {},
): Promise<TestGuard> {
  const dataDir = mkdtempSync(join(tmpdir(), 'guard-test-'));
  const document = {
    upstream: { url: upstreamUrl },
    dataDir,
    listen: { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' },
    log: { level: 'debug' },
    ...overrides,
  };
  const configFile = join(dataDir, 'config.yaml');
  writeFileSync(configFile, stringify(document));
  const config = parseConfigText(stringify(document), configFile);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = createLogger(config.log.level, sink);
  const guard = await startGuard(config, logger, configFile, options);
  const ca = guard.caCertPath ? readFileSync(guard.caCertPath) : Buffer.alloc(0);
  const agent = new Agent({ connect: { ca, servername: 'localhost' } });

  return {
    guard,
    url: `https://localhost:${guard.ports.https}`,
    httpUrl: `http://127.0.0.1:${guard.ports.http}`,
    adminUrl: `http://127.0.0.1:${guard.ports.admin}`,
    ca,
    agent,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join('\n'),
    dataDir,
    configFile,
    rewriteConfig(changes) {
      writeFileSync(configFile, stringify({ ...document, ...changes }));
    },
    async close() {
      await agent.close();
      await guard.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
