import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  // The guard's own Origin check is off, so that the app is the one that
  // declines the foreign handshake below.
  guard = await startTestGuard(app.url, { crossOrigin: { enabled: false } });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

const handshake = [
  'Host: localhost',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version: 13',
];

async function send(port: number, lines: string[], body = '') {
  const text = await sendRaw(port, guard.ca, `${lines.join('\r\n')}\r\n\r\n${body}`, 4000);
  return { text, responses: parseResponses(text) };
}

function upstreamSaw(marker: string): boolean {
  return app.requests.some((entry) => entry.url.includes(marker));
}

describe('upgrades other than a WebSocket handshake', () => {
  it.each([
    ['h2c, which would hand the client a raw pipe to the app', 'GET', 'h2c', ''],
    ['an unknown protocol', 'GET', 'x-tunnel', ''],
    ['a WebSocket handshake on POST with a body', 'POST', 'websocket', 'Content-Length: 5'],
    ['a WebSocket handshake with a chunked body', 'GET', 'websocket', 'Transfer-Encoding: chunked'],
  ])('refuses %s', async (_name, method, protocol, framing) => {
    const marker = `upgrade-${protocol}-${method}-${framing.length}`;
    const { responses } = await send(
      guard.guard.ports.https,
      [
        `${method} /socket.io/?EIO=4&transport=websocket&${marker} HTTP/1.1`,
        ...handshake,
        `Upgrade: ${protocol}`,
        ...(framing ? [framing] : []),
      ],
      framing.startsWith('Content-Length') ? 'hello' : framing ? '0\r\n\r\n' : '',
    );
    expect(responses[0]?.status).toBe(400);
    expect(responses[0]?.head).toMatch(/x-frame-options: DENY/i);
    expect(JSON.parse(responses[0]?.body ?? '{}')).toMatchObject({
      code: 'GUARD_ERR_BAD_REQUEST',
      requestId: expect.any(String),
    });
    expect(upstreamSaw(marker)).toBe(false);
  });
});

describe('an upgrade the app declines', () => {
  it('reaches the client with the security headers', async () => {
    const { responses } = await send(guard.guard.ports.https, [
      'GET /socket.io/?EIO=4&transport=websocket&declined HTTP/1.1',
      ...handshake,
      'Upgrade: websocket',
      'Origin: https://evil.example',
    ]);
    expect(responses[0]?.status).toBe(400);
    const head = responses[0]?.head ?? '';
    expect(head).toMatch(/strict-transport-security: max-age=/i);
    expect(head).toMatch(/x-frame-options: DENY/i);
    expect(head).toMatch(/content-security-policy: /i);
    expect(head).toMatch(/x-request-id: [0-9a-f-]{36}/i);
  });

  describe('when the app breaks its answer off', () => {
    let upstream: Server;
    let cutGuard: TestGuard;

    beforeAll(async () => {
      upstream = createServer();
      upstream.on('upgrade', (req, socket) => {
        if (req.url === '/closed') return void socket.destroy();
        socket.write('HTTP/1.1 400 Bad Request\r\nServer: app\r\nContent-Length: 100\r\n\r\nhello');
        setTimeout(() => socket.destroy(), 50);
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const { port } = upstream.address() as AddressInfo;
      cutGuard = await startTestGuard(`http://127.0.0.1:${port}`);
    });
    afterAll(async () => {
      await cutGuard.close();
      await new Promise((resolve) => upstream.close(resolve));
    });

    it('answers 502 UPSTREAM_FAILED when the app closes a handshake it took', async () => {
      const text = await sendRaw(
        cutGuard.guard.ports.https,
        cutGuard.ca,
        `GET /closed HTTP/1.1\r\n${handshake.join('\r\n')}\r\nUpgrade: websocket\r\n\r\n`,
      );
      const [response] = parseResponses(text);
      expect(response?.status).toBe(502);
      expect(response?.head).toMatch(/strict-transport-security: /i);
      expect(JSON.parse(response?.body ?? '{}')).toMatchObject({
        code: 'GUARD_ERR_UPSTREAM_FAILED',
        requestId: expect.any(String),
      });
    });

    it('closes the client connection rather than leave it open or append a 502', async () => {
      const started = Date.now();
      const text = await sendRaw(
        cutGuard.guard.ports.https,
        cutGuard.ca,
        `GET /ws HTTP/1.1\r\n${handshake.join('\r\n')}\r\nUpgrade: websocket\r\n\r\n`,
        10_000,
      );
      expect(Date.now() - started).toBeLessThan(5000);
      expect(text.startsWith('HTTP/1.1 400 ')).toBe(true);
      expect(text).not.toMatch(/server: app/i);
      expect(text.endsWith('\r\n\r\nhello')).toBe(true);
    });
  });
});

describe('a client that leaves before the app takes its handshake', () => {
  let upstream: Server;
  let slowGuard: TestGuard;
  const appSockets: Socket[] = [];
  let appSocketsEnded = 0;

  beforeAll(async () => {
    // An app that takes each upgrade only after a while.
    upstream = createServer();
    upstream.on('upgrade', (_req, socket: Socket) => {
      appSockets.push(socket);
      socket.on('error', () => socket.destroy());
      socket.once('end', () => {
        appSocketsEnded += 1;
      });
      const accept = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
      const answer =
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`;
      setTimeout(() => socket.writable && socket.write(answer), 400);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    slowGuard = await startTestGuard(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    for (const socket of appSockets) socket.destroy();
    await slowGuard.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('ends the connection to the app, and is logged as 499, not 101', async () => {
    const client = tlsConnect(
      {
        host: '127.0.0.1',
        port: slowGuard.guard.ports.https,
        ca: slowGuard.ca,
        servername: 'localhost',
      },
      () => {
        const lines = [`GET /ws?leaves HTTP/1.1`, ...handshake, 'Upgrade: websocket'];
        client.write(`${lines.join('\r\n')}\r\n\r\n`);
      },
    );
    client.on('error', () => {});
    await expect.poll(() => appSockets.length).toBe(1);
    client.destroy();

    await expect.poll(() => appSocketsEnded, { timeout: 3000 }).toBe(1);
    const lines = () => slowGuard.logs.filter((line) => line.msg === 'request');
    await expect.poll(() => lines().length).toBe(1);
    expect(lines()[0]).toMatchObject({ path: '/ws', status: 499 });
    const metrics = await fetch(`${slowGuard.adminUrl}/metrics`).then((answer) => answer.text());
    expect(metrics).toMatch(/^guard_websockets_open 0$/m);
  });
});
