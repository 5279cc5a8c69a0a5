import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

// Pipelined requests: answers leave in the order the requests came, and
// nothing behind an answer that closes the connection reaches the app.

let app: OcommsDouble;
let guard: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url);
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

const upgradeLines = [
  'Host: localhost',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version: 13',
];

async function pipeline(requests: string[], timeoutMs = 3000) {
  const text = await sendRaw(guard.guard.ports.https, guard.ca, requests.join(''), timeoutMs);
  return parseResponses(text);
}

function upstreamSaw(marker: string): boolean {
  return app.requests.some((entry) => entry.url.includes(marker));
}

describe('pipelined requests', () => {
  it('answers the requests before a malformed one, then refuses it (no misread 400)', async () => {
    const responses = await pipeline([
      'GET /api/slow?ms=300 HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'POST /api/echo?before-garbage HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nok',
      'HELLO THERE\r\n\r\n',
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 400]);
    expect(JSON.parse(responses[0]?.body ?? '{}')).toEqual({ delayedMs: 300 });
    expect(JSON.parse(responses[2]?.body ?? '{}')).toMatchObject({ code: 'GUARD_ERR_BAD_REQUEST' });
  });

  it('does not let a streamed answer be cut by the refusal of the next request', async () => {
    const text = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      'GET /api/stream HTTP/1.1\r\nHost: localhost\r\n\r\nGET /x HTTP/1.1\r\nBad Header: x\r\n\r\n',
    );
    // The chunked answer ends with its last chunk, and only then comes the 400.
    expect(text.startsWith('HTTP/1.1 200 ')).toBe(true);
    const refusalAt = text.indexOf('HTTP/1.1 400 ');
    expect(refusalAt).toBeGreaterThan(text.indexOf('chunk 5 at'));
    expect(text.slice(0, refusalAt).endsWith('\r\n0\r\n\r\n')).toBe(true);
  });

  it('refuses a chunked body that breaks mid-way at once, not after the body timeout', async () => {
    const started = Date.now();
    const responses = await pipeline([
      'POST /api/echo?broken-chunks HTTP/1.1\r\nHost: localhost\r\n',
      'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n',
    ]);
    expect(responses.map((response) => response.status)).toEqual([400]);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('forwards pipelined requests one at a time', async () => {
    const pending = pipeline([
      'GET /api/slow?ms=400&one-at-a-time-1 HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'GET /api/slow?ms=0&one-at-a-time-2 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    ]);
    for (let attempt = 0; attempt < 100 && !upstreamSaw('one-at-a-time-1'); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(upstreamSaw('one-at-a-time-1')).toBe(true);
    expect(upstreamSaw('one-at-a-time-2')).toBe(false);
    const responses = await pending;
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect(upstreamSaw('one-at-a-time-2')).toBe(true);
  });

  it('cuts a connection that pipelines far more than any client needs', async () => {
    const flood = 'GET /api/slow?ms=2000&flood HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(2000);
    const started = Date.now();
    // The guard ends the connection with answers still owed: a reset or a close.
    const outcome = await sendRaw(guard.guard.ports.https, guard.ca, flood, 10_000).then(
      (text) => text,
      (error: NodeJS.ErrnoException) => error.code ?? 'error',
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(['', 'ECONNRESET']).toContain(outcome);
    expect(app.requests.filter((entry) => entry.url.includes('flood')).length).toBeLessThanOrEqual(
      1,
    );
  });

  it('forwards nothing pipelined behind a refusal that closes the connection', async () => {
    const responses = await pipeline([
      'GET /api/%zz HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'POST /api/echo?behind-refusal HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nok',
      `GET /socket.io/?EIO=4&transport=websocket&upgrade-behind-refusal HTTP/1.1\r\n${upgradeLines.join('\r\n')}\r\n\r\n`,
    ]);
    expect(responses.map((response) => response.status)).toEqual([400]);
    expect(upstreamSaw('behind-refusal')).toBe(false);
  });

  it('forwards nothing pipelined behind a request that asked to close', async () => {
    const responses = await pipeline([
      'GET /api/echo?asks-close HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      'POST /api/echo?behind-close HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nok',
    ]);
    expect(responses.map((response) => response.status)).toEqual([200]);
    expect(upstreamSaw('asks-close')).toBe(true);
    expect(upstreamSaw('behind-close')).toBe(false);
  });

  it('sends the head of an upgrade only after the answers owed before it', async () => {
    const responses = await pipeline(
      [
        'GET /api/slow?ms=300 HTTP/1.1\r\nHost: localhost\r\n\r\n',
        `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n${upgradeLines.join('\r\n')}\r\n\r\n`,
      ],
      1500,
    );
    expect(responses.map((response) => response.status)).toEqual([200, 101]);
    expect(JSON.parse(responses[0]?.body ?? '{}')).toEqual({ delayedMs: 300 });
  });
});
