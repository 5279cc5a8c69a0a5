import { connect } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, {
    limits: { headersTimeoutMs: 800, bodyIdleTimeoutMs: 800, maxHeadersCount: 100 },
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

async function raw(lines: string[], body = ''): Promise<ReturnType<typeof parseResponses>> {
  const text = await sendRaw(guard.guard.ports.https, guard.ca, `${lines.join('\r\n')}${body}`);
  return parseResponses(text);
}

// Writes each piece after the previous one waited gapMs, then collects the
// answer until the guard closes the connection.
function sendInPieces(pieces: string[], gapMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const options = { host: '127.0.0.1', ca: guard.ca, servername: 'localhost' };
    const socket = connect({ ...options, port: guard.guard.ports.https }, async () => {
      for (const piece of pieces) {
        if (!socket.writable) return;
        socket.write(piece);
        await new Promise((wait) => setTimeout(wait, gapMs));
      }
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

function upstreamSaw(marker: string): boolean {
  return app.requests.some((entry) => entry.url.includes(marker));
}

function expectGuardAnswer(response: { status: number; head: string; body: string } | undefined) {
  expect(response).toBeDefined();
  expect(response?.head).toMatch(/content-type: application\/json/i);
  expect(response?.head).toMatch(/x-frame-options: DENY/i);
  expect(response?.head).toMatch(/strict-transport-security: /i);
  const body = JSON.parse(response?.body ?? '{}') as { code?: string; requestId?: string };
  expect(body.code).toMatch(/^GUARD_ERR_/);
  expect(body.requestId).toBeTruthy();
  return body;
}

describe('request smuggling is refused', () => {
  it('refuses Content-Length together with Transfer-Encoding', async () => {
    const [response] = await raw(
      [
        'POST /api/echo?cl-te HTTP/1.1',
        'Host: localhost',
        'Content-Length: 6',
        'Transfer-Encoding: chunked',
        '',
        '',
      ],
      '0\r\n\r\nGET /api/admin/export?smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
    );
    expect(response?.status).toBe(400);
    expectGuardAnswer(response);
    expect(upstreamSaw('smuggled')).toBe(false);
  });

  it('refuses two different Content-Length values', async () => {
    const [response] = await raw(
      [
        'POST /api/echo?double-cl HTTP/1.1',
        'Host: localhost',
        'Content-Length: 4',
        'Content-Length: 40',
        '',
        '',
      ],
      'abcd',
    );
    expect(response?.status).toBe(400);
    expect(upstreamSaw('double-cl')).toBe(false);
  });

  it('refuses a Transfer-Encoding that does not end in chunked', async () => {
    const [response] = await raw(
      [
        'POST /api/echo?te-gzip HTTP/1.1',
        'Host: localhost',
        'Transfer-Encoding: chunked, gzip',
        '',
        '',
      ],
      '0\r\n\r\n',
    );
    expect(response?.status).toBe(400);
    expect(upstreamSaw('te-gzip')).toBe(false);
  });

  it('refuses Transfer-Encoding in HTTP/1.0 and closes, serving nothing pipelined', async () => {
    const text = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      [
        'POST /api/echo?te-http10 HTTP/1.0',
        'Host: localhost',
        'Connection: keep-alive',
        'Transfer-Encoding: chunked',
        '',
        '4',
        'abcd',
        '0',
        '',
        'GET /api/admin/export?after-te-http10 HTTP/1.1',
        'Host: localhost',
        '',
        '',
      ].join('\r\n'),
    );
    const responses = parseResponses(text);
    expect(responses.map((response) => response.status)).toEqual([400]);
    expectGuardAnswer(responses[0]);
    expect(responses[0]?.head).toMatch(/\r\nconnection: close/i);
    expect(upstreamSaw('te-http10')).toBe(false);
  });

  it('refuses more headers than the limit instead of dropping the excess (CVE-2026-58044)', async () => {
    const filler = Array.from({ length: 120 }, (_, index) => `X-Filler-${index}: ${index}`);
    const [response] = await raw(
      [
        'POST /api/echo?many-headers HTTP/1.1',
        'Host: localhost',
        ...filler,
        'Content-Length: 5',
        '',
        '',
      ],
      'hello',
    );
    expect(response?.status).toBe(431);
    expectGuardAnswer(response);
    expect(upstreamSaw('many-headers')).toBe(false);
  });

  it('refuses a duplicated Host, which on an upgrade used to stop the process', async () => {
    const upgrade = [
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
    ];
    for (const extra of [[], upgrade]) {
      const [response] = await raw([
        'GET /socket.io/?EIO=4&transport=websocket&two-hosts HTTP/1.1',
        'Host: localhost',
        'Host: evil.example',
        ...extra,
        '',
        '',
      ]);
      expect(response?.status).toBe(400);
      expectGuardAnswer(response);
    }
    expect(upstreamSaw('two-hosts')).toBe(false);
    const after = await request(`${guard.url}/api/health`, { dispatcher: guard.agent });
    expect(after.statusCode).toBe(200);
    await after.body.dump();
  });

  it('forwards pipelined requests one by one, exactly as the guard parsed them', async () => {
    const before = app.requests.length;
    const responses = await raw([
      'POST /api/echo?pipe-1 HTTP/1.1',
      'Host: localhost',
      'Transfer-Encoding: chunked',
      '',
      '5',
      'hello',
      '0',
      '',
      'GET /api/echo?pipe-2 HTTP/1.1',
      'Host: localhost',
      'Connection: close',
      '',
      '',
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const seen = app.requests
      .slice(before)
      .map((entry) => [entry.method, entry.url, entry.bodyBytes]);
    expect(seen).toEqual([
      ['POST', '/api/echo?pipe-1', 5],
      ['GET', '/api/echo?pipe-2', 0],
    ]);
  });
});

describe('malformed requests get a well-formed answer', () => {
  it.each([
    ['garbage request line', ['HELLO THERE', '', ''], 400],
    [
      'oversize headers',
      ['GET / HTTP/1.1', 'Host: localhost', `X-Big: ${'a'.repeat(20000)}`, '', ''],
      431,
    ],
    ['NUL in the path', ['GET /api/%00echo HTTP/1.1', 'Host: localhost', '', ''], 400],
    ['bad percent-encoding', ['GET /api/%zz HTTP/1.1', 'Host: localhost', '', ''], 400],
    ['invalid UTF-8 in the path', ['GET /api/%c3%28 HTTP/1.1', 'Host: localhost', '', ''], 400],
    ['absolute-form target', ['GET http://evil.example/ HTTP/1.1', 'Host: localhost', '', ''], 400],
    ['no Host', ['GET / HTTP/1.1', '', ''], 400],
    ['hostile Host', ['GET / HTTP/1.1', 'Host: evil.example/<script>', '', ''], 400],
    ['TRACE', ['TRACE / HTTP/1.1', 'Host: localhost', '', ''], 405],
    [
      'CONNECT, which Node dropped unanswered',
      ['CONNECT localhost:443 HTTP/1.1', 'Host: localhost', '', ''],
      405,
    ],
    [
      'an expectation other than 100-continue, which Node answered bare',
      ['POST /api/echo HTTP/1.1', 'Host: localhost', 'Expect: bogus', 'Content-Length: 0', '', ''],
      417,
    ],
    ['space in header name', ['GET / HTTP/1.1', 'Host: localhost', 'Bad Header: x', '', ''], 400],
  ])('%s', async (_name, lines, status) => {
    const [response] = await raw(lines as string[]);
    expect(response?.status).toBe(status);
    expectGuardAnswer(response);
  });

  it('cuts off a client that sends headers too slowly with 408', async () => {
    const started = Date.now();
    const text = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      'GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ',
      5000,
    );
    const [response] = parseResponses(text);
    expect(response?.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(3500);
  });

  it('cuts off a body that stalls with 408 and forwards nothing complete', async () => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(
        { host: '127.0.0.1', port: guard.guard.ports.https, ca: guard.ca, servername: 'localhost' },
        () => {
          socket.write(
            'POST /api/echo?stall HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789',
          );
        },
      );
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      setTimeout(() => socket.destroy(), 5000).unref();
    });
    const [response] = parseResponses(text);
    expect(response?.status).toBe(408);
    const stalled = app.requests.find((entry) => entry.url.includes('stall'));
    expect(stalled === undefined || stalled.bodyBytes < 100).toBe(true);
  });

  it('keeps a body that arrives slowly but never stalls for the idle timeout', async () => {
    const head = 'POST /api/echo?steady HTTP/1.1\r\nHost: localhost\r\n';
    const pieces = [`${head}Content-Length: 50\r\nConnection: close\r\n\r\n`];
    for (let index = 0; index < 5; index += 1) pieces.push('0123456789');
    const [response] = parseResponses(await sendInPieces(pieces, 250));
    expect(response?.status).toBe(200);
    expect(JSON.parse(response?.body ?? '{}')).toMatchObject({ bodyBytes: 50 });
  });

  it('keeps serving everyone else after all of the above', async () => {
    const response = await request(`${guard.url}/api/health`, { dispatcher: guard.agent });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ status: 'healthy' });
  });
});
