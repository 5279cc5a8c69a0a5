import { request } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcmeFixture, startAcmeFixture } from '../support/acme-fixture.ts';
import type { TestGuard } from '../support/guard-harness.ts';

let fixture: AcmeFixture;
let guard: TestGuard;
const token = 'Xk1s0aH9c2TtQm3bRZyPq7vN4wLd8eF0';

beforeAll(async () => {
  fixture = await startAcmeFixture();
  guard = await fixture.startGuard({ challenges: ['http-01'] });
  await fixture.waitReady(guard, 100_000);
}, 120_000);
afterAll(() => fixture.close());

function get(path: string, host: string, method = 'GET') {
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: fixture.ports().http, path, method, headers: { host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }),
        );
      },
    );
    req.once('error', reject);
    req.end();
  });
}

describe('acme challenges answered by the guard', { timeout: 60_000 }, () => {
  it('removed every token once validation was over', () => {
    expect(guard.guard.acme?.challenges.pending).toBe(0);
  });

  it('answers the exact key authorization as text/plain, for its host only', async () => {
    const challenges = guard.guard.acme?.challenges;
    challenges?.addHttp(token, 'guard.test', `${token}.thumbprint`);
    const path = `/.well-known/acme-challenge/${token}`;
    const answer = await get(path, 'guard.test');
    expect(answer).toEqual({ status: 200, type: 'text/plain', body: `${token}.thumbprint` });
    expect((await get(path, 'GUARD.test:80')).status).toBe(200);

    const before = fixture.upstreamRequests();
    const refused = [
      await get(path, 'other.test'),
      await get(`/.well-known/acme-challenge/${token}x`, 'guard.test'),
      await get(`/.well-known/acme-challenge/${token}/../x`, 'guard.test'),
      await get('/.well-known/acme-challenge/', 'guard.test'),
      await get(`${path}?q=1`, 'guard.test'),
      await get(path, 'guard.test', 'POST'),
    ];
    for (const reply of refused) {
      expect(reply.status).toBe(404);
      expect(JSON.parse(reply.body)).toMatchObject({ code: 'GUARD_ERR_ACME_CHALLENGE_UNKNOWN' });
    }
    challenges?.removeHttp(token);
    expect((await get(path, 'guard.test')).status).toBe(404);
    expect(fixture.upstreamRequests()).toBe(before);
  });

  it('still redirects everything else to https', async () => {
    const reply = await get('/.well-known/other', 'guard.test');
    expect(reply.status).toBe(308);
  });

  it('refuses acme-tls/1 handshakes when no validation is under way', async () => {
    const ca = await fixture.pebble.issuerRoot();
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: fixture.ports().https,
        servername: 'guard.test',
        ca,
        ALPNProtocols: ['acme-tls/1'],
      });
      socket.once('secureConnect', () => {
        resolve(`connected ${socket.alpnProtocol}`);
        socket.destroy();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(outcome).toMatch(/ALPN|NO_APPLICATION_PROTOCOL/);
    const withoutName = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: fixture.ports().https,
        ca,
        ALPNProtocols: ['acme-tls/1'],
      });
      socket.once('secureConnect', () => {
        resolve('connected');
        socket.destroy();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(withoutName).toMatch(/NO_APPLICATION_PROTOCOL|ECONNRESET/);
  });
});
