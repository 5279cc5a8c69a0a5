import { connect, type TLSSocket } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// A client that asks for a large answer and stops reading keeps the upstream
// connection serving it paused; without a limit, a handful of such clients
// hold the whole upstream pool and every other request waits for ever.

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, {
    upstream: { url: app.url, connections: 1 },
    limits: { bodyIdleTimeoutMs: 800 },
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

function startSlowReader(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port: guard.guard.ports.https, ca: guard.ca, servername: 'localhost' },
      () => {
        socket.write('GET /api/size?bytes=268435456 HTTP/1.1\r\nHost: localhost\r\n\r\n');
        socket.pause();
        resolve(socket);
      },
    );
    socket.on('error', reject);
  });
}

async function upstreamIsServing(path: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (app.requests.some((entry) => entry.url === path)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the upstream never saw the slow reader');
}

describe('a client that stops reading', () => {
  it('is cut off, so it cannot hold the upstream pool (slow-read starvation)', async () => {
    const slow = await startSlowReader();
    const closed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
    slow.on('error', () => slow.destroy());
    await upstreamIsServing('/api/size?bytes=268435456');

    // The only upstream connection is taken by the slow reader until the
    // guard gives up on it; then this request gets it.
    const started = Date.now();
    const response = await request(`${guard.url}/api/health`, {
      dispatcher: guard.agent,
      headersTimeout: 20_000,
    });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
    expect(Date.now() - started).toBeLessThan(15_000);

    slow.resume();
    await closed;
    const line = guard.logs.find(
      (entry) => entry.msg === 'request' && entry.path === '/api/size' && entry.status === 499,
    );
    expect(line).toBeDefined();
  }, 30_000);
});
