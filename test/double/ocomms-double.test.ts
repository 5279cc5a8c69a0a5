import { request } from 'node:http';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, SEEDED_PASSWORD, startOcommsDouble } from './ocomms-double.ts';

let double: OcommsDouble;
const sockets: Socket[] = [];

beforeEach(async () => {
  double = await startOcommsDouble();
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await double.close();
});

function signIn(email: string, password: string): Promise<Response> {
  return fetch(`${double.url}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
}

/** The Cookie header a browser would send back after these Set-Cookie values. */
function cookieHeader(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(';')[0])
    .join('; ');
}

describe('ocomms double: better-auth', () => {
  it('signs alice in with two separate session cookies', async () => {
    const response = await signIn('alice@example.com', SEEDED_PASSWORD);
    const body = await response.json();

    expect(response.status).toBe(200);
    expect(body).toMatchObject({ redirect: false, user: { email: 'alice@example.com' } });
    const cookies = response.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(
      /^better-auth\.session_token=[A-Za-z0-9]{32}\.[^;]+; Max-Age=604800/,
    );
    expect(cookies[0]).toContain('HttpOnly; SameSite=Lax');
    expect(cookies[1]).toMatch(/^better-auth\.session_data=[^;]+; Max-Age=300/);

    const session = await fetch(`${double.url}/api/auth/get-session`, {
      headers: { cookie: cookieHeader(response) },
    });
    expect(await session.json()).toMatchObject({ user: { email: 'alice@example.com' } });
  });

  it('answers a wrong password and an unknown account with the same 401', async () => {
    const wrong = await signIn('alice@example.com', 'not the password');
    const unknown = await signIn('nobody@example.com', SEEDED_PASSWORD);

    const expected = { code: 'INVALID_EMAIL_OR_PASSWORD', message: 'Invalid email or password' };
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual(expected);
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toEqual(expected);
  });

  it('accepts urlencoded bodies and records the request as received', async () => {
    const body = new URLSearchParams({ email: 'alice@example.com', password: SEEDED_PASSWORD });
    const response = await fetch(`${double.url}/api/auth/sign-in/email`, { method: 'POST', body });

    expect(response.status).toBe(200);
    const recorded = double.requests.find((entry) => entry.url === '/api/auth/sign-in/email');
    expect(recorded?.method).toBe('POST');
    expect(recorded?.body.toString()).toBe(body.toString());
  });

  it('sends bob through TOTP before giving him a session', async () => {
    const first = await signIn('bob@example.com', SEEDED_PASSWORD);
    expect(await first.json()).toEqual({ twoFactorRedirect: true });
    const twoFactor = first.headers.getSetCookie().find((c) => c.includes('two_factor='));
    expect(twoFactor).toBeDefined();

    const verified = await fetch(`${double.url}/api/auth/two-factor/verify-totp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: cookieHeader(first),
        origin: double.url,
      },
      body: JSON.stringify({ code: '123456' }),
    });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ user: { email: 'bob@example.com' } });
  });
});

describe('ocomms double: pages and routes', () => {
  it('streams the page in several chunks with an inline script', async () => {
    const { headers, chunks } = await getChunks(`${double.url}/login`);
    const html = chunks.join('');

    expect(headers['transfer-encoding']).toBe('chunked');
    expect(headers['x-powered-by']).toBe('Next.js');
    expect(headers.server).toBeDefined();
    expect(chunks.length).toBeGreaterThan(1);
    expect(html).toContain('<script>window.__inlineRan = true;</script>');
    expect(html).toContain('<script src="/socket.io/socket.io.js"></script>');
  });

  it('redirects a protected page to /login until signed in', async () => {
    const page = `${double.url}/acme/settings/members`;
    const anonymous = await fetch(page, { redirect: 'manual' });
    expect(anonymous.status).toBe(307);
    expect(anonymous.headers.get('location')).toBe(`${double.url}/login`);

    const signedIn = await signIn('dave@example.com', SEEDED_PASSWORD);
    const member = await fetch(page, { headers: { cookie: cookieHeader(signedIn) } });
    expect(member.status).toBe(200);
  });

  it('serves the Socket.IO browser client itself', async () => {
    const response = await fetch(`${double.url}/socket.io/socket.io.js`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Socket.IO');
  });
});

describe('ocomms double: Socket.IO', () => {
  it('connects over WebSocket, says hello, echoes and acknowledges', async () => {
    const socket = connectSocket(double.url, { transports: ['websocket'], forceNew: true });
    sockets.push(socket);
    const hello = await new Promise((resolve) => socket.once('hello', resolve));

    expect(hello).toMatchObject({ id: socket.id });
    expect(socket.io.engine.transport.name).toBe('websocket');
    const echoed = new Promise((resolve) => socket.once('echo', resolve));
    socket.emit('echo', { text: 'hi', n: 1 });
    expect(await echoed).toEqual({ text: 'hi', n: 1 });
    const ack = await socket.timeout(2000).emitWithAck('ping-ack', 'x');
    expect(ack).toMatchObject({ pong: true, payload: 'x' });
  });

  it('upgrades from long-polling to WebSocket', async () => {
    const socket = connectSocket(double.url, {
      transports: ['polling', 'websocket'],
      forceNew: true,
    });
    sockets.push(socket);
    const upgraded = await new Promise<string>((resolve) => {
      socket.io.on('open', () => socket.io.engine.once('upgrade', (t) => resolve(t.name)));
    });

    expect(upgraded).toBe('websocket');
    expect(double.requests.some((entry) => entry.url.includes('transport=polling'))).toBe(true);
  });

  it('refuses a foreign Origin with HTTP 400', async () => {
    const response = await fetch(`${double.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(response.status).toBe(400);
  });
});

function getChunks(url: string): Promise<{ headers: Record<string, unknown>; chunks: string[] }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => chunks.push(chunk));
      res.on('end', () => resolve({ headers: res.headers, chunks }));
    })
      .on('error', reject)
      .end();
  });
}
