import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import {
  authPoliciesOff,
  freshClientIp,
  postJson,
  presetLimit,
  presetLimitsOff,
  send,
} from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;
const perSession = presetLimit('change-password-session');
const kept = ['change-password-session', 'socket-io-handshake'];

beforeAll(async () => {
  app = await startOcommsDouble();
  // Through a trusted 127.0.0.1 each request speaks for a client of its own,
  // so only the rule under test can count it twice.
  guard = await startTestGuard(app.url, {
    ...authPoliciesOff(),
    trustedProxies: ['127.0.0.1/32'],
    rateLimits: [
      ...presetLimitsOff().filter((rule) => !kept.includes(String(rule.name))),
      {
        name: 'socket-io-handshake',
        match: { path: '/socket.io/', prefix: true, methods: ['GET', 'POST'], handshakeOnly: true },
        key: ['ip'],
        limit: 1,
        windowSeconds: 60,
      },
    ],
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

describe('a client cannot choose a fresh rate-limit key', () => {
  it('counts a Socket.IO handshake that repeats sid with an empty one last', async () => {
    const headers = { 'x-forwarded-for': freshClientIp() };
    const poll = '/socket.io/?EIO=4&transport=polling';
    expect((await send(guard, poll, { headers })).status).toBe(200);
    // Engine.IO reads the last of a repeated sid; either order is counted.
    for (const target of [`${poll}&sid=x&sid=`, `${poll}&sid=&sid=x`]) {
      const answer = await send(guard, target, { headers });
      expect(answer.status, target).toBe(429);
    }
  });

  it('counts a session on change-password however many junk session cookies come', async () => {
    const session = `better-auth.session_token=evasion-${process.pid}.signature`;
    const body = { currentPassword: 'guess', newPassword: 'Another-Long-Passphrase-91' };
    const statuses: number[] = [];
    for (let index = 0; index <= perSession; index += 1) {
      const cookie = `${session}; better-auth.session_token=junk-${index}.x`;
      const headers = { 'x-forwarded-for': freshClientIp(), cookie };
      statuses.push((await postJson(guard, '/api/auth/change-password', body, headers)).status);
    }
    expect(statuses.slice(0, perSession).every((status) => status !== 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it('counts more session cookies than a browser holds against one shared key', async () => {
    const body = { currentPassword: 'guess', newPassword: 'Another-Long-Passphrase-91' };
    const statuses: number[] = [];
    for (let index = 0; index <= perSession; index += 1) {
      const junk = Array.from(
        { length: 6 },
        (_, at) => `better-auth.session_token=many-${process.pid}-${index}-${at}.x`,
      );
      const headers = { 'x-forwarded-for': freshClientIp(), cookie: junk.join('; ') };
      statuses.push((await postJson(guard, '/api/auth/change-password', body, headers)).status);
    }
    expect(statuses.at(-1)).toBe(429);
  });
});
