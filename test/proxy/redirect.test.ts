import { connect } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble | undefined;
let guard: TestGuard | undefined;
afterEach(async () => {
  await guard?.close();
  await app?.close();
});

async function redirectOf(
  g: TestGuard,
  path: string,
  host: string,
  method: 'GET' | 'POST' = 'GET',
) {
  const response = await request(`${g.httpUrl}${path}`, {
    method,
    headers: { host },
    body: method === 'POST' ? '{"a":1}' : undefined,
  });
  const body = await response.body.text();
  return { status: response.statusCode, location: response.headers.location, body };
}

describe('plain HTTP listener', () => {
  it('answers every method with 308 to the same URL on https and forwards nothing', async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url, {
      listen: {
        https: '127.0.0.1:0',
        http: '127.0.0.1:0',
        admin: false,
        publicHttpsPort: 443,
      },
    });
    const get = await redirectOf(guard, '/w/settings?tab=members', 'Chat.Example.com:80');
    expect(get).toMatchObject({
      status: 308,
      location: 'https://chat.example.com/w/settings?tab=members',
    });
    const post = await redirectOf(guard, '/api/auth/sign-in/email', 'chat.example.com', 'POST');
    expect(post.status).toBe(308);
    const v6 = await redirectOf(guard, '/', '[::1]:8080');
    expect(v6.location).toBe('https://[::1]/');
    expect(app.requests).toHaveLength(0);
  });

  it('refuses a Host that is not a host name instead of redirecting to it', async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url);
    const hostile = await redirectOf(guard, '/', 'evil.example/@x');
    expect(hostile.status).toBe(400);
    expect(JSON.parse(hostile.body)).toMatchObject({ code: 'GUARD_ERR_BAD_REQUEST' });
  });

  it('closes the connection instead of draining a body without end', async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url);
    const port = guard.guard.ports.http ?? 0;
    const outcome = await new Promise<{ head: string; sentMiB: number }>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.write(
        'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      let head = '';
      let sentMiB = 0;
      const chunk = `100000\r\n${'a'.repeat(0x100000)}\r\n`;
      const pump = (): void => {
        while (!socket.destroyed && sentMiB < 256) {
          sentMiB += 1;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.destroy();
      };
      socket.on('data', (data: Buffer) => {
        head ||= data.toString('latin1').split('\r\n')[0] ?? '';
      });
      socket.on('error', () => socket.destroy());
      socket.on('close', () => resolve({ head, sentMiB }));
      pump();
    });
    expect(outcome.head).toBe('HTTP/1.1 308 Permanent Redirect');
    expect(outcome.sentMiB).toBeLessThan(256);
  });

  it('answers unknown hosts with 404 when asked to', async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url, { rejectUnknownHosts: true });
    const raw = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      'GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n',
    );
    const [response] = parseResponses(raw);
    expect(response?.status).toBe(404);
    expect(JSON.parse(response?.body ?? '{}')).toMatchObject({ code: 'GUARD_ERR_UNKNOWN_HOST' });
    const known = await request(`${guard.url}/`, { dispatcher: guard.agent });
    expect(known.statusCode).toBe(200);
    await known.body.dump();
  });
});
