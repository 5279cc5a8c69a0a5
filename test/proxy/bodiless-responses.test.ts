import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { sendRaw } from '../support/raw-http.ts';

// Answers that never have a body (RFC 9110 sections 6.4.1, 15.3.5, 15.4.5)
// while their head still names a length.

let upstream: Server;
let guard: TestGuard;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    // Like a static file server answering a conditional GET: the length is
    // that of the file the client already holds.
    if (req.url === '/not-modified') res.writeHead(304, { etag: '"v1"', 'content-length': '5' });
    else if (req.url === '/no-content') res.writeHead(204, { 'content-length': '0' });
    else res.writeHead(200, { 'content-length': '5' });
    res.end(req.url === '/ok' ? 'hello' : undefined);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as AddressInfo;
  guard = await startTestGuard(`http://127.0.0.1:${port}`);
});
afterAll(async () => {
  await guard.close();
  await new Promise((resolve) => upstream.close(resolve));
});

describe('answers without a body', () => {
  it('relays a 304 that declares the length of the representation', async () => {
    const response = await request(`${guard.url}/not-modified`, {
      dispatcher: guard.agent,
      headers: { 'if-none-match': '"v1"' },
    });
    expect(response.statusCode).toBe(304);
    expect(response.headers.etag).toBe('"v1"');
    expect(response.headers['x-frame-options']).toBe('DENY');
    await response.body.dump();
  });

  it('keeps the connection usable after a 304 and a 204', async () => {
    const text = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      [
        'GET /not-modified HTTP/1.1\r\nHost: localhost\r\n\r\n',
        'GET /no-content HTTP/1.1\r\nHost: localhost\r\n\r\n',
        'GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      ].join(''),
    );
    // parseResponses would take the 304's declared length for a body: read
    // the heads in order instead.
    const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((match) => match[1]);
    expect(statuses).toEqual(['304', '204', '200']);
    expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  });
});
