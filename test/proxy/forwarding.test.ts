import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

type Echo = {
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
  bodyBytes: number;
};

let app: OcommsDouble;
let guard: TestGuard;

async function echo(
  path: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {},
) {
  const response = await request(`${guard.url}${path}`, { dispatcher: guard.agent, ...init });
  return { response, echo: (await response.body.json()) as Echo };
}

describe('forwarding', () => {
  beforeEach(async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url);
  });
  afterEach(async () => {
    await guard.close();
    await app.close();
  });

  it('passes method, target, Host and Origin through unchanged', async () => {
    const { echo: seen } = await echo('/api/echo?x=1&y=%2F', {
      method: 'POST',
      headers: { origin: guard.url, 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/api/echo?x=1&y=%2F');
    expect(seen.headers.host).toBe(`localhost:${guard.guard.ports.https}`);
    expect(seen.headers.origin).toBe(guard.url);
    expect(seen.bodyBytes).toBe(7);
  });

  it('replaces X-Forwarded-* and Forwarded sent by an untrusted client', async () => {
    const { echo: seen } = await echo('/api/echo', {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6',
        'x-real-ip': '6.6.6.6',
        'x-request-id': 'chosen-by-client',
      },
    });
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe(`localhost:${guard.guard.ports.https}`);
    expect(seen.headers.forwarded).toMatch(/^for=127\.0\.0\.1;proto=https;host=/);
    expect(seen.headers['x-real-ip']).toBeUndefined();
    expect(seen.headers['x-request-id']).not.toBe('chosen-by-client');
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('6.6.6.6');
  });

  it('drops hop-by-hop headers and those named in Connection, but keeps its own', async () => {
    const raw = await sendRaw(
      guard.guard.ports.https,
      guard.ca,
      [
        'GET /api/echo HTTP/1.1',
        'Host: localhost',
        'Connection: close, x-forwarded-for, x-secret-hop, host',
        'X-Secret-Hop: drop me',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        '',
        '',
      ].join('\r\n'),
    );
    const [response] = parseResponses(raw);
    const seen = JSON.parse(response?.body ?? '{}') as Echo;
    expect(response?.status).toBe(200);
    expect(seen.headers['x-secret-hop']).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers.host).toBe('localhost');
  });

  it('forwards every Set-Cookie of the app separately', async () => {
    const response = await request(`${guard.url}/api/auth/sign-in/email`, {
      dispatcher: guard.agent,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'alice@example.com',
        password: 'correct horse battery staple',
      }),
    });
    const cookies = response.headers['set-cookie'];
    expect(response.statusCode).toBe(200);
    // The app's two, and the guard's device cookie after a successful sign-in.
    expect(Array.isArray(cookies) && cookies.length).toBe(3);
    expect(String(cookies)).toContain('__Host-ocomms-guard-device=');
    expect(String(cookies)).toContain('better-auth.session_token=');
    expect(String(cookies)).toContain('better-auth.session_data=');
    await response.body.dump();
  });

  it('keeps Content-Length on HEAD answers', async () => {
    const response = await request(`${guard.url}/api/size?bytes=12345`, {
      dispatcher: guard.agent,
      method: 'HEAD',
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-length']).toBe('12345');
    expect((await response.body.arrayBuffer()).byteLength).toBe(0);
  });

  it('streams responses without buffering them', async () => {
    const started = Date.now();
    const response = await request(`${guard.url}/api/stream`, { dispatcher: guard.agent });
    const arrivals: number[] = [];
    for await (const chunk of response.body) {
      if (String(chunk).includes('chunk')) arrivals.push(Date.now() - started);
    }
    expect(arrivals.length).toBeGreaterThan(2);
    // The app spreads its chunks over ~300 ms; a buffering proxy delivers them at once.
    expect((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThan(150);
  });

  it('carries chunked request bodies and large bodies intact', async () => {
    async function* parts() {
      for (let index = 0; index < 64; index += 1) yield Buffer.alloc(16 * 1024, index);
    }
    const response = await request(`${guard.url}/api/upload/attachment`, {
      dispatcher: guard.agent,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Readable.from(parts()),
    });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ size: 64 * 16 * 1024 });
  });

  it('delivers a 20 MB upload on the attachment route', async () => {
    const body = Buffer.alloc(20 * 1024 * 1024, 7);
    const response = await request(`${guard.url}/api/upload/attachment`, {
      dispatcher: guard.agent,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ size: body.length });
  });
});

describe('forwarding behind a trusted proxy', () => {
  beforeEach(async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url, { trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'] });
  });
  afterEach(async () => {
    await guard.close();
    await app.close();
  });

  it('reads X-Forwarded-For right to left, skipping trusted hops', async () => {
    const { echo: seen } = await echo('/api/echo', {
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.1.2.3' },
    });
    expect(seen.headers['x-forwarded-for']).toBe('6.6.6.6, 203.0.113.9, 10.1.2.3, 127.0.0.1');
    expect(seen.headers.forwarded).toMatch(/^for=203\.0\.113\.9;/);
    const line = guard.logs.find((entry) => entry.msg === 'request' && entry.path === '/api/echo');
    expect(line?.clientIp).toBe('203.0.113.9');
  });

  it('shows IPv4-mapped IPv6 hops in dotted form', async () => {
    await echo('/api/echo', { headers: { 'x-forwarded-for': '::ffff:198.51.100.7' } });
    const line = guard.logs.find((entry) => entry.msg === 'request' && entry.path === '/api/echo');
    expect(line?.clientIp).toBe('198.51.100.7');
  });

  it('quotes IPv6 clients in Forwarded', async () => {
    const { echo: seen } = await echo('/api/echo', {
      headers: { 'x-forwarded-for': '2001:db8::1' },
    });
    expect(seen.headers.forwarded).toMatch(/^for="\[2001:db8::1\]";proto=https/);
  });
});
