import { readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../policies/redis-client.ts';
import { createTestCa, type TestCa } from '../support/test-ca.ts';
import { waitFor } from '../support/wait-for.ts';

// Redis does not report the name a client asked for, so a TLS listener
// records it: a TLS proxy in front of Redis may route on that name (SNI).

let ca: TestCa;
let server: Server;
const asked: (string | false | null)[] = [];

beforeAll(async () => {
  ca = createTestCa('redis-sni-ca');
  const leaf = ca.issue('localhost', ['localhost', '127.0.0.1']);
  server = createServer(
    { cert: readFileSync(leaf.certPath), key: readFileSync(leaf.keyPath) },
    (socket) => {
      asked.push(socket.servername);
      socket.destroy();
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(ca.dir, { recursive: true, force: true });
});

async function servernameFor(host: string): Promise<string | false | null | undefined> {
  const before = asked.length;
  const { port } = server.address() as AddressInfo;
  const client = createRedisClient({
    url: `rediss://${host}:${port}`,
    ca: ca.certPath,
    keyPrefix: 'guard:',
    commandTimeoutMs: 1000,
    connectTimeoutMs: 5000,
  });
  client.on('error', () => undefined);
  try {
    await waitFor(() => asked.length > before, 15000);
    return asked[before];
  } finally {
    client.disconnect();
  }
}

describe('the store client over TLS', () => {
  it('sends the url host name as SNI', async () => {
    expect(await servernameFor('localhost')).toBe('localhost');
  });

  it('sends no SNI for an address, which TLS does not allow', async () => {
    expect(await servernameFor('127.0.0.1')).toBe(false);
  });
});
