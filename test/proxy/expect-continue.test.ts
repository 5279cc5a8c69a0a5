import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// Expect: 100-continue (RFC 9110 section 10.1.1): the client sends its body
// only once told to, so a request the guard refuses is never uploaded.

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

type Conversation = {
  /** Everything received so far. */
  text(): string;
  until(pattern: RegExp, timeoutMs?: number): Promise<string>;
  closed: Promise<string>;
  write(data: string): void;
};

// Sends the head of a request and lets the test answer what comes back, as a
// client that waits for 100 Continue does.
function converse(head: string[], tls = true): Conversation {
  const host = '127.0.0.1';
  const socket = tls
    ? tlsConnect({ host, ca: guard.ca, servername: 'localhost', port: guard.guard.ports.https })
    : tcpConnect({ host, port: guard.guard.ports.http ?? 0 });
  socket.once(tls ? 'secureConnect' : 'connect', () =>
    socket.write(`${head.join('\r\n')}\r\n\r\n`),
  );
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  setTimeout(() => socket.destroy(), 10_000).unref();
  return {
    text: () => received,
    async until(pattern, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(received)) {
        if (Date.now() > deadline || socket.destroyed) {
          throw new Error(`no ${pattern} in ${JSON.stringify(received)}`);
        }
        await new Promise((wait) => setTimeout(wait, 10));
      }
      return received;
    },
    closed,
    write: (data) => socket.write(data),
  };
}

describe('Expect: 100-continue', () => {
  it('asks for the body once the guard reads it, and forwards it', async () => {
    const client = converse([
      'POST /api/echo?continue-ok HTTP/1.1',
      'Host: localhost',
      'Content-Type: text/plain',
      'Expect: 100-continue',
      'Content-Length: 5',
      'Connection: close',
    ]);
    await client.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    client.write('hello');
    const text = await client.closed;
    expect(text).toMatch(/\r\n\r\nHTTP\/1\.1 200 /);
    expect(text).toContain('"bodyBytes":5');
    const seen = app.requests.find((entry) => entry.url.includes('continue-ok'));
    expect(seen?.headers.expect).toBeUndefined();
  });

  it('refuses a body over the route limit at once, without asking for it', async () => {
    const client = converse([
      'POST /api/echo?continue-too-large HTTP/1.1',
      'Host: localhost',
      'Expect: 100-continue',
      `Content-Length: ${64 * 1024 * 1024}`,
    ]);
    const text = await client.closed;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).not.toContain('100 Continue');
    expect(text).toContain('GUARD_ERR_BODY_TOO_LARGE');
    expect(app.requests.some((entry) => entry.url.includes('continue-too-large'))).toBe(false);
  });

  it('inspects a sign-in body after asking for it', async () => {
    const client = converse([
      'POST /api/auth/sign-in/email HTTP/1.1',
      'Host: localhost',
      'Content-Type: application/json',
      'Origin: https://localhost',
      'Expect: 100-continue',
      'Content-Length: 2',
      'Connection: close',
    ]);
    await client.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    client.write('{}');
    const text = await client.closed;
    expect(text).toMatch(/\r\n\r\nHTTP\/1\.1 [45]\d\d /);
  });

  it('refuses a sign-in body over the inspection limit at once, unasked for', async () => {
    // Under the route's limit, over what the guard reads of a body it inspects.
    const client = converse([
      'POST /api/auth/sign-in/email HTTP/1.1',
      'Host: localhost',
      'Content-Type: application/json',
      'Origin: https://localhost',
      'Expect: 100-continue',
      `Content-Length: ${1024 * 1024}`,
    ]);
    const text = await client.closed;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).not.toContain('100 Continue');
    expect(text).toContain('GUARD_ERR_BODY_TOO_LARGE');
  });

  it('answers the plain listener with its redirect, without asking for the body', async () => {
    const client = converse(
      [
        'POST /upload HTTP/1.1',
        'Host: localhost',
        'Expect: 100-continue',
        'Content-Length: 1000000',
      ],
      false,
    );
    const text = await client.closed;
    expect(text).toMatch(/^HTTP\/1\.1 308 /);
    expect(text).not.toContain('100 Continue');
  });
});
