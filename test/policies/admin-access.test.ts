import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { presetLimitsOff, send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let proxied: TestGuard;
let direct: TestGuard;
let overIpv6: TestGuard;

const ADMIN_ACTION = 'a1b2c3d4e5f6';

beforeAll(async () => {
  app = await startOcommsDouble();
  const common = { rateLimits: presetLimitsOff() };
  // Clients behind a trusted proxy on 127.0.0.1, named by X-Forwarded-For.
  proxied = await startTestGuard(app.url, {
    ...common,
    trustedProxies: ['127.0.0.1'],
    adminAccess: {
      allow: ['10.1.0.0/16', 'fd00:1::/32'],
      groups: { organization: { allow: ['10.9.0.0/16'] }, settings: false },
      actionIds: [ADMIN_ACTION],
    },
  });
  // No trusted proxy: the peer is the client, whatever X-Forwarded-For says.
  direct = await startTestGuard(app.url, { ...common, adminAccess: { allow: ['10.1.0.0/16'] } });
  // A client connected over IPv6 itself.
  overIpv6 = await startTestGuard(app.url, {
    ...common,
    listen: { https: '[::1]:0', http: false, admin: '127.0.0.1:0' },
    adminAccess: { allow: ['::1/128'], groups: { organization: { allow: ['10.0.0.0/8'] } } },
  });
});
afterAll(async () => {
  await Promise.all([proxied.close(), direct.close(), overIpv6.close()]);
  await app.close();
});

function from(guard: TestGuard, clientIp: string, path: string, method = 'GET') {
  const headers = { 'x-forwarded-for': clientIp };
  return send(guard, path, method === 'GET' ? { headers } : { method, body: '{}', headers });
}

function reachedApp(path: string, since: number): boolean {
  return app.requests.slice(since).some((entry) => entry.url === path);
}

function refusalEvents(guard: TestGuard) {
  return guard.logs
    .map((line) => line.event as Record<string, unknown> | undefined)
    .filter((event) => event?.type === 'admin.network_denied');
}

describe('admin allow-lists', () => {
  it('lets a listed IPv4 network reach the admin API', async () => {
    const before = app.requests.length;
    const answer = await from(proxied, '10.1.2.3', '/api/admin/audit-logs');
    expect(answer.status).toBe(307);
    expect(reachedApp('/api/admin/audit-logs', before)).toBe(true);
  });

  it('refuses any other network with 403 in the app shape, and records it', async () => {
    const before = app.requests.length;
    const answer = await from(proxied, '10.2.0.7', '/api/admin/audit-logs');
    expect(answer.status).toBe(403);
    const body = JSON.parse(answer.text);
    expect(body).toMatchObject({ code: 'GUARD_ERR_ADMIN_NETWORK' });
    expect(typeof body.message).toBe('string');
    expect(typeof body.requestId).toBe('string');
    expect(answer.headers['content-security-policy']).toBeDefined();
    expect(reachedApp('/api/admin/audit-logs', before)).toBe(false);
    const event = refusalEvents(proxied).find((entry) => entry?.clientIp === '10.2.0.7');
    expect(event).toMatchObject({ outcome: 'denied', status: 403, route: 'admin' });
    expect(event?.details).toEqual({ group: 'admin-api' });
  });

  it('checks IPv6 clients named by a trusted proxy against IPv6 networks', async () => {
    expect((await from(proxied, 'fd00:1::5', '/api/admin/audit-logs')).status).toBe(307);
    expect((await from(proxied, 'fd00:2::5', '/api/admin/audit-logs')).status).toBe(403);
    expect((await from(proxied, '::ffff:10.1.0.9', '/api/admin/audit-logs')).status).toBe(307);
  });

  it('refuses other spellings of an admin path alike', async () => {
    for (const path of [
      '/API/Admin/audit-logs',
      '/api//admin/audit-logs',
      '/x/../api/admin/export',
    ]) {
      expect((await from(proxied, '10.2.0.7', path)).status).toBe(403);
    }
    expect((await from(proxied, '10.2.0.7', '/api/upload/emoji', 'POST')).status).toBe(403);
  });

  it('gives each group its own networks, or none', async () => {
    const path = '/api/auth/organization/update-member-role';
    expect((await from(proxied, '10.1.2.3', path, 'POST')).status).toBe(403);
    expect((await from(proxied, '10.9.0.1', path, 'POST')).status).not.toBe(403);
    // settings: false leaves the settings pages open.
    expect((await from(proxied, '10.2.0.7', '/acme/settings/members')).status).toBe(307);
  });

  it('refuses a listed admin Server Action from outside, whatever page it is posted to', async () => {
    const headers = {
      'x-forwarded-for': '10.2.0.7',
      'next-action': ADMIN_ACTION,
      'content-type': 'text/plain;charset=UTF-8',
    };
    const refused = await send(proxied, '/acme/channels', { body: '[]', headers });
    expect(refused.status).toBe(403);
    const other = { ...headers, 'next-action': 'ffff0000' };
    expect((await send(proxied, '/acme/channels', { body: '[]', headers: other })).status).toBe(
      307,
    );
  });

  it('leaves the rest of the app to everyone', async () => {
    expect((await from(proxied, '10.2.0.7', '/api/health')).status).toBe(200);
    expect((await from(proxied, '10.2.0.7', '/api/settings')).status).not.toBe(403);
  });

  it('believes no X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const answer = await from(direct, '10.1.2.3', '/api/admin/audit-logs');
    expect(answer.status).toBe(403);
    const event = refusalEvents(direct).at(-1);
    expect(event?.clientIp).toBe('127.0.0.1');
  });

  it('guards the settings pages and the Server Actions posted to them', async () => {
    expect((await send(direct, '/acme/settings/members')).status).toBe(403);
    const headers = { 'next-action': 'abcdef', 'content-type': 'text/plain;charset=UTF-8' };
    const action = await send(direct, '/acme/settings', { body: '[]', headers });
    expect(action.status).toBe(403);
    expect(refusalEvents(direct).at(-1)?.details).toEqual({ group: 'settings' });
  });

  it('checks a client connected over IPv6 by its own address', async () => {
    const base = `https://[::1]:${overIpv6.guard.ports.https}`;
    const get = async (path: string, method: 'GET' | 'POST' = 'GET') => {
      const response = await request(`${base}${path}`, {
        dispatcher: overIpv6.agent,
        method,
        headers: { origin: overIpv6.url, 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      await response.body.text();
      return response.statusCode;
    };
    expect(await get('/api/admin/audit-logs')).toBe(307);
    expect(await get('/api/auth/organization/remove-member', 'POST')).toBe(403);
    expect(refusalEvents(overIpv6).at(-1)?.clientIp).toBe('::1');
  });

  it('is off by default', async () => {
    const before = app.requests.length;
    expect(direct.guard.runtime.policies.config.adminAccess.allow).toHaveLength(1);
    const open = await startTestGuard(app.url, { rateLimits: presetLimitsOff() });
    try {
      expect((await send(open, '/api/admin/audit-logs')).status).toBe(307);
      expect(reachedApp('/api/admin/audit-logs', before)).toBe(true);
      const names = open.guard.runtime.policies.beforeForward.map((policy) => policy.name);
      expect(names).not.toContain('admin-access');
    } finally {
      await open.close();
    }
  });
});
