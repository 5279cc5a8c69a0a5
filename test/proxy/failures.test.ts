import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Server as NetServer,
} from 'node:net';
import { Readable } from 'node:stream';
import { connect } from 'node:tls';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function withGuard(upstreamUrl: string, overrides: Record<string, unknown> = {}) {
  const guard = await startTestGuard(upstreamUrl, overrides);
  cleanups.push(() => guard.close());
  return guard;
}

async function withApp() {
  const app = await startOcommsDouble();
  cleanups.push(() => app.close());
  return app;
}

async function json(guard: TestGuard, path: string, init: Parameters<typeof request>[1] = {}) {
  const response = await request(`${guard.url}${path}`, { dispatcher: guard.agent, ...init });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(text) };
}

describe('upstream failures', () => {
  it('answers 502 well under a second when the upstream refuses connections', async () => {
    const app = await withApp();
    const deadUrl = app.url;
    await app.close();
    const guard = await withGuard(deadUrl);
    const started = Date.now();
    const answer = await json(guard, '/api/health');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ code: 'GUARD_ERR_UPSTREAM_UNREACHABLE' });
    expect(JSON.stringify(answer.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|undici/);
    const metrics = await (await request(`${guard.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/guard_upstream_errors_total\{reason="connect"\} 1/);
    const ready = await request(`${guard.adminUrl}/readyz`);
    expect(ready.statusCode).toBe(503);
    await ready.body.dump();
  });

  it('answers 504 when response headers do not come in time', async () => {
    const app = await withApp();
    const guard = await withGuard(app.url, { upstream: { url: app.url, responseTimeoutMs: 300 } });
    const answer = await json(guard, '/api/slow?ms=3000');
    expect(answer.status).toBe(504);
    expect(answer.body).toMatchObject({ code: 'GUARD_ERR_UPSTREAM_TIMEOUT' });
  });

  it('cuts a response the upstream breaks off mid-body instead of completing it', async () => {
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const url = await listen(upstream);
    const guard = await withGuard(url);
    const response = await request(`${guard.url}/`, { dispatcher: guard.agent });
    expect(response.statusCode).toBe(200);
    await expect(response.body.text()).rejects.toThrow();
    const healthy = await request(`${guard.adminUrl}/healthz`);
    expect(healthy.statusCode).toBe(200);
    await healthy.body.dump();
  });

  it('answers 502 for a status code outside 100-599 instead of relaying it', async () => {
    for (const status of [600, 999]) {
      const upstream = createTcpServer((socket) => {
        socket.once('data', () =>
          socket.end(`HTTP/1.1 ${status} Odd\r\ncontent-length: 2\r\n\r\nok`),
        );
      });
      const url = await listen(upstream);
      const guard = await withGuard(url);
      const answer = await json(guard, '/');
      expect(answer.status).toBe(502);
      expect(answer.body.code).toBe('GUARD_ERR_UPSTREAM_FAILED');
      expect(answer.headers['x-request-id']).toBeTruthy();
    }
  });

  it('releases the upstream request at once when the client goes away', async () => {
    let upstreamClosedAt = 0;
    const upstream = createServer((_req, res) => {
      res.on('close', () => {
        upstreamClosedAt = Date.now();
      });
      setTimeout(() => res.end('late'), 5000).unref();
    });
    const url = await listen(upstream);
    const guard = await withGuard(url);
    const controller = new AbortController();
    const pending = request(`${guard.url}/slow`, {
      dispatcher: guard.agent,
      signal: controller.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const abortedAt = Date.now();
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => upstreamClosedAt > 0, 1000);
    expect(upstreamClosedAt - abortedAt).toBeLessThan(500);
    await waitFor(() => guard.logs.some((line) => line.status === 499), 1000);
  });
});

describe('body limits', () => {
  it('refuses a declared body over the route limit with 413 before forwarding it', async () => {
    const app = await withApp();
    const guard = await withGuard(app.url, { limits: { maxBodyBytes: '1KiB' } });
    const answer = await json(guard, '/api/echo', {
      method: 'POST',
      body: Buffer.alloc(2048, 1),
    });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ code: 'GUARD_ERR_BODY_TOO_LARGE' });
    expect(app.requests.some((entry) => entry.url === '/api/echo')).toBe(false);
  });

  it('refuses a chunked body that outgrows the limit and forwards no complete request', async () => {
    const app = await withApp();
    const guard = await withGuard(app.url, { limits: { maxBodyBytes: '64KiB' } });
    async function* parts() {
      for (let index = 0; index < 32; index += 1) yield Buffer.alloc(8 * 1024, 1);
    }
    const response = await request(`${guard.url}/api/echo`, {
      dispatcher: guard.agent,
      method: 'POST',
      body: Readable.from(parts()),
    }).catch((error: Error) => error);
    if (!(response instanceof Error)) {
      expect(response.statusCode).toBe(413);
      await response.body.dump();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const complete = app.requests.filter((entry) => entry.url === '/api/echo');
    for (const entry of complete) expect(entry.bodyBytes).toBeLessThanOrEqual(64 * 1024);
    const line = guard.logs.find((entry) => entry.msg === 'request' && entry.path === '/api/echo');
    expect(line?.status === 413 || line?.status === 499).toBe(true);
  });

  it('refuses with 413 a chunked body that outgrows the limit after a pause', async () => {
    const app = await withApp();
    const guard = await withGuard(app.url, { limits: { maxBodyBytes: '1KiB' } });
    const chunk = `320\r\n${'x'.repeat(800)}\r\n`;
    const head = 'POST /api/echo?late HTTP/1.1\r\nHost: localhost\r\n';
    const text = await sendInPieces(guard, [
      `${head}Transfer-Encoding: chunked\r\n\r\n${chunk}`,
      `${chunk}0\r\n\r\n`,
    ]);
    expect(text.startsWith('HTTP/1.1 413 ')).toBe(true);
    expect(text).toContain('GUARD_ERR_BODY_TOO_LARGE');
    const complete = app.requests.filter((entry) => entry.url.includes('late'));
    for (const entry of complete) expect(entry.bodyBytes).toBeLessThanOrEqual(1024);
  });

  it('keeps the connection going when the app answers before reading the body', async () => {
    const upstream = createServer((req, res) => {
      if (req.url === '/early') res.writeHead(401, { 'content-length': '4' }).end('nope');
      else res.end('next');
    });
    const guard = await withGuard(await listen(upstream));
    const next = 'GET /next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
    const head = 'POST /early HTTP/1.1\r\nHost: localhost\r\n';
    // Whole with its headers, and still arriving when the answer comes.
    const whole = await sendInPieces(guard, [`${head}Content-Length: 4\r\n\r\nbody${next}`]);
    const arriving = await sendInPieces(guard, [
      `${head}Content-Length: 12\r\n\r\nbody`,
      'body',
      `body${next}`,
    ]);
    for (const text of [whole, arriving]) {
      expect(text.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 401', 'HTTP/1.1 200']);
      expect(text).toContain('nope');
      expect(text).toContain('next');
    }
  });

  it('lets the attachment route take 25 MB while other routes keep the default', async () => {
    const app = await withApp();
    const guard = await withGuard(app.url);
    const big = Buffer.alloc(25 * 1024 * 1024, 3);
    const accepted = await json(guard, '/api/upload/attachment', { method: 'POST', body: big });
    expect(accepted.status).toBe(200);
    const refused = await json(guard, '/api/echo', { method: 'POST', body: big });
    expect(refused.status).toBe(413);
  });
});

// Writes each piece 300 ms after the previous one over one TLS connection and
// collects everything until the guard closes it.
function sendInPieces(guard: TestGuard, pieces: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const options = { host: '127.0.0.1', ca: guard.ca, servername: 'localhost' };
    const socket = connect({ ...options, port: guard.guard.ports.https }, async () => {
      for (const [index, piece] of pieces.entries()) {
        if (index > 0) await new Promise((wait) => setTimeout(wait, 300));
        if (socket.writable) socket.write(piece);
      }
    });
    const chunks: Buffer[] = [];
    socket.on('data', (data: Buffer) => chunks.push(data));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

function listen(server: Server | NetServer): Promise<string> {
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
