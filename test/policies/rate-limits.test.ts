import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import {
  authPoliciesOff,
  freshClientIp,
  postJson,
  presetLimit,
  send,
} from '../support/policy-requests.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let guard: TestGuard;
const signIn = '/api/auth/sign-in/email';
const perClient = presetLimit('sign-in');
const perAccount = presetLimit('sign-in-account');

beforeAll(async () => {
  app = await startOcommsDouble();
  // Through a trusted 127.0.0.1 each test speaks for clients of its own.
  guard = await startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    rateLimitSettings: { exemptSources: ['10.250.0.0/16'] },
    rateLimits: [
      {
        name: 'socket-io-handshake',
        match: { path: '/socket.io/', prefix: true, methods: ['GET', 'POST'], handshakeOnly: true },
        key: ['ip'],
        limit: 2,
        windowSeconds: 60,
      },
    ],
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

function forwardedFrom(ip: string, path = signIn): number {
  return app.requests.filter(
    (entry) =>
      entry.url.startsWith(path) && String(entry.headers['x-forwarded-for']).startsWith(`${ip},`),
  ).length;
}

function attempt(ip: string, email: string, password = 'wrong-password') {
  return postJson(guard, signIn, { email, password }, { 'x-forwarded-for': ip });
}

describe('sign-in limits', () => {
  it('lets the limit of attempts per client through, then answers 429 in the app shape', async () => {
    const ip = freshClientIp();
    for (let index = 0; index < perClient; index += 1) {
      const answer = await attempt(ip, `user${index}@example.com`);
      expect(answer.status).toBe(401);
    }
    const limited = await attempt(ip, 'user-last@example.com');
    expect(limited.status).toBe(429);
    expect(forwardedFrom(ip)).toBe(perClient);

    const body = JSON.parse(limited.text) as { code: string; message: string; requestId: string };
    expect(body.code).toBe('GUARD_ERR_RATE_LIMITED');
    expect(body.message).toBe('Too many requests. Please try again later.');
    expect(limited.headers['x-request-id']).toBe(body.requestId);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(60);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(limited.headers['x-retry-after']).toBe(String(retryAfter));
    expect(limited.headers['ratelimit-policy']).toBe(`"sign-in";q=${perClient};w=60`);
    expect(limited.headers.ratelimit).toBe(`"sign-in";r=0;t=${retryAfter}`);
    expect(limited.headers['strict-transport-security']).toBeTruthy();
    expect(limited.headers['x-frame-options']).toBe('DENY');
    expect(limited.headers['x-content-type-options']).toBe('nosniff');

    // Another client is not affected.
    expect((await attempt(freshClientIp(), 'user0@example.com')).status).toBe(401);

    const event = guard.logs.find(
      (line) =>
        (line.event as { type?: string; requestId?: string } | undefined)?.requestId ===
        body.requestId,
    )?.event as Record<string, unknown> | undefined;
    expect(event).toMatchObject({
      type: 'rate.limited',
      outcome: 'denied',
      clientIp: ip,
      route: 'sign-in',
      status: 429,
      details: { rule: 'sign-in', key: 'ip' },
    });
    const metrics = await (await fetch(`${guard.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/guard_rate_limited_total\{rule="sign-in"\} [1-9]/);
  });

  it('counts an account across clients, however its email is cased or padded', async () => {
    const spellings = [
      'mallory-target@example.com',
      'Mallory-Target@Example.COM',
      '  mallory-target@example.com ',
      'MALLORY-TARGET@EXAMPLE.COM',
      'mallory-target@example.com\t',
    ];
    for (let index = 0; index < perAccount; index += 1) {
      const email = spellings[index % spellings.length] ?? '';
      expect((await attempt(freshClientIp(), email)).status).not.toBe(429);
    }
    const limited = await attempt(freshClientIp(), 'Mallory-target@example.com');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-policy']).toBe(`"sign-in-account";q=${perAccount};w=60`);
    // No block time on account rules: the refusal lasts the rest of the window.
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // The account is hashed in the log as in the store: no email in any line.
    expect(guard.logText()).not.toMatch(/mallory-target/i);
  });

  it('lets at most the limit through when 50 attempts arrive at once', async () => {
    const ip = freshClientIp();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, index) => attempt(ip, `parallel${index}@example.com`)),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401)).toHaveLength(perClient);
    expect(statuses.filter((status) => status === 429)).toHaveLength(50 - perClient);
    expect(forwardedFrom(ip)).toBe(perClient);
  });

  it('counts each pipelined request on one connection', async () => {
    const ip = freshClientIp();
    const total = perClient + 2;
    const requests = Array.from({ length: total }, (_, index) => {
      const body = JSON.stringify({ email: `pipe${index}@example.com`, password: 'x' });
      return [
        `POST ${signIn} HTTP/1.1`,
        'Host: localhost',
        `X-Forwarded-For: ${ip}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        index === total - 1 ? 'Connection: close' : 'Connection: keep-alive',
        '',
        body,
      ].join('\r\n');
    });
    const text = await sendRaw(guard.guard.ports.https, guard.ca, requests.join(''), 8000);
    const statuses = parseResponses(text).map((response) => response.status);
    expect(statuses).toEqual([...Array(perClient).fill(401), 429, 429]);
    expect(forwardedFrom(ip)).toBe(perClient);
  });

  it('groups IPv6 clients by /64 and counts IPv4-mapped addresses as IPv4', async () => {
    for (let index = 1; index <= perClient; index += 1) {
      const ip = `2001:db8:77:a:${index.toString(16)}::${(index * 7).toString(16)}`;
      expect((await attempt(ip, `six${index}@example.com`)).status).toBe(401);
    }
    expect((await attempt('2001:db8:77:a:ffff:1:2:3', 'six-last@example.com')).status).toBe(429);
    expect((await attempt('2001:db8:77:b::1', 'six-other@example.com')).status).toBe(401);

    const v4 = freshClientIp();
    for (let index = 0; index < perClient; index += 1) {
      const ip = index % 2 ? v4 : `::ffff:${v4}`;
      expect((await attempt(ip, `four${index}@example.com`)).status).toBe(401);
    }
    expect((await attempt(`::FFFF:${v4}`, 'mapped-last@example.com')).status).toBe(429);
  });

  it('never limits the app session checks nor the exempt sources', async () => {
    const ip = freshClientIp();
    for (let index = 0; index < 40; index += 1) {
      const answer = await send(guard, '/api/auth/get-session', {
        headers: { 'x-forwarded-for': ip },
      });
      expect(answer.status).toBe(200);
    }
    for (let index = 0; index < 15; index += 1) {
      const answer = await attempt('10.250.0.9', `exempt${index}@example.com`);
      expect(answer.status).toBe(401);
    }
  });

  it('keys change-password on the session token, whatever its signature', async () => {
    const path = '/api/auth/change-password';
    const change = (signature: string) =>
      postJson(
        guard,
        path,
        { currentPassword: 'a', newPassword: 'b' },
        {
          'x-forwarded-for': freshClientIp(),
          cookie: `better-auth.session_token=tok-${process.pid}.${signature}`,
        },
      );
    for (const signature of ['s1', 's2', 's3']) expect((await change(signature)).status).toBe(401);
    const limited = await change('s4');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-policy']).toBe('"change-password-session";q=3;w=60');
  });
});

describe('Socket.IO handshakes', () => {
  const poll = '/socket.io/?EIO=4&transport=polling';

  it('limits new sessions by polling and by upgrade, not traffic of open ones', async () => {
    const ip = freshClientIp();
    const headers = { 'x-forwarded-for': ip };
    expect((await send(guard, poll, { headers })).status).toBe(200);
    // Requests naming a session open nothing and are not counted.
    for (let index = 0; index < 3; index += 1) {
      const joined = await send(guard, `${poll}&sid=unknown${index}`, { headers });
      expect(joined.status).toBe(400);
    }
    expect((await send(guard, `${poll}&sid=`, { headers })).status).toBe(200);
    expect((await send(guard, poll, { headers })).status).toBe(429);

    const upgrade = [
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1',
      `Host: localhost:${guard.guard.ports.https}`,
      `X-Forwarded-For: ${ip}`,
      `Origin: ${guard.url}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      '',
      '',
    ].join('\r\n');
    const [response] = parseResponses(await sendRaw(guard.guard.ports.https, guard.ca, upgrade));
    expect(response?.status).toBe(429);
    expect(response?.head).toMatch(/\r\nretry-after: \d+/i);
    expect(response?.head).toMatch(/\r\nstrict-transport-security: /i);
  });
});
