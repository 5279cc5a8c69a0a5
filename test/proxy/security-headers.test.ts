import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble | undefined;
let guard: TestGuard | undefined;

async function start(overrides: Record<string, unknown> = {}) {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, overrides);
  return guard;
}

afterEach(async () => {
  await guard?.close();
  await app?.close();
  guard = undefined;
  app = undefined;
});

async function get(g: TestGuard, path: string) {
  const response = await request(`${g.url}${path}`, { dispatcher: g.agent });
  await response.body.dump();
  return response;
}

// Names exactly as they left the guard, with their count, whatever the case.
function countRaw(head: string, name: string): number {
  return head.split('\r\n').filter((line) => line.toLowerCase().startsWith(`${name}:`)).length;
}

const managed = [
  'strict-transport-security',
  'content-security-policy',
  'x-frame-options',
  'x-content-type-options',
  'referrer-policy',
  'permissions-policy',
  'cross-origin-opener-policy',
];

describe('security headers', () => {
  it('adds every header to proxied pages and removes Server and X-Powered-By', async () => {
    const g = await start();
    const response = await get(g, '/');
    for (const name of managed) expect(response.headers[name], name).toBeTruthy();
    expect(response.headers['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(response.headers.server).toBeUndefined();
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('sends exactly one of each, replacing duplicates in any case from the app', async () => {
    const g = await start();
    const raw = await sendRaw(
      g.guard.ports.https,
      g.ca,
      'GET /api/headers-case HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    const [response] = parseResponses(raw);
    const head = response?.head ?? '';
    for (const name of managed) expect(countRaw(head, name), name).toBe(1);
    expect(head).toContain('x-frame-options: DENY');
    expect(head).not.toMatch(/sameorigin|allowall|max-age=0|: sniff/i);
    expect(countRaw(head, 'server')).toBe(0);
    expect(countRaw(head, 'x-powered-by')).toBe(0);
  });

  it('keeps the app value in "keep" mode and adds only when absent in "default" mode', async () => {
    const g = await start({
      headers: {
        xFrameOptions: { value: 'DENY', mode: 'keep' },
        referrerPolicy: { value: 'no-referrer', mode: 'default' },
      },
    });
    const raw = await sendRaw(
      g.guard.ports.https,
      g.ca,
      'GET /api/headers-case HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    );
    const head = parseResponses(raw)[0]?.head ?? '';
    expect(countRaw(head, 'x-frame-options')).toBe(1);
    expect(head).toContain('x-frame-options: SAMEORIGIN');
    expect(head).toContain('referrer-policy: no-referrer');
  });

  it('can switch a header off and override per path', async () => {
    const g = await start({
      headers: {
        permissionsPolicy: false,
        paths: { '/api/': { cacheControl: 'no-store', xFrameOptions: 'SAMEORIGIN' } },
      },
    });
    const api = await get(g, '/api/health');
    expect(api.headers['permissions-policy']).toBeUndefined();
    expect(api.headers['cache-control']).toBe('no-store');
    expect(api.headers['x-frame-options']).toBe('SAMEORIGIN');
    const page = await get(g, '/login');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).not.toBe('no-store');
  });

  it('sends the policy as report-only when asked', async () => {
    const g = await start({ headers: { contentSecurityPolicy: { reportOnly: true } } });
    const response = await get(g, '/');
    expect(response.headers['content-security-policy']).toBeUndefined();
    expect(response.headers['content-security-policy-report-only']).toContain("default-src 'self'");
  });

  it('hands a fresh nonce to the app and puts the same one in the response', async () => {
    const g = await start({ headers: { contentSecurityPolicy: { nonce: true } } });
    const nonces = new Set<string>();
    for (let index = 0; index < 3; index += 1) {
      const response = await request(`${g.url}/`, { dispatcher: g.agent });
      const html = await response.body.text();
      const policy = String(response.headers['content-security-policy']);
      const nonce = /'nonce-([^']+)'/.exec(policy)?.[1] ?? '';
      expect(nonce.length).toBeGreaterThan(15);
      expect(html).toContain(`nonce="${nonce}"`);
      nonces.add(nonce);
    }
    expect(nonces.size).toBe(3);
    const seen = app?.requests.filter((entry) => entry.url === '/') ?? [];
    expect(String(seen[0]?.headers['content-security-policy'])).toContain("'nonce-");
  });

  it('adds the headers to the guard own answers too, HSTS only over https', async () => {
    const g = await start();
    const redirect = await request(`${g.httpUrl}/login?next=1`, {
      headers: { host: 'chat.example.com' },
    });
    expect(redirect.statusCode).toBe(308);
    expect(redirect.headers.location).toBe(
      `https://chat.example.com:${g.guard.ports.https}/login?next=1`,
    );
    expect(redirect.headers['strict-transport-security']).toBeUndefined();
    expect(redirect.headers['x-frame-options']).toBe('DENY');
    expect(redirect.headers['content-security-policy']).toBeTruthy();
    expect(await redirect.body.json()).toMatchObject({ code: 'GUARD_REDIRECT_HTTPS' });

    await app?.close();
    const failed = await request(`${g.url}/api/health`, { dispatcher: g.agent });
    expect(failed.statusCode).toBe(502);
    for (const name of managed) expect(failed.headers[name], name).toBeTruthy();
    expect(failed.headers['x-request-id']).toBeTruthy();
    const body = (await failed.body.json()) as Record<string, string>;
    expect(body.code).toBe('GUARD_ERR_UPSTREAM_UNREACHABLE');
    expect(body.requestId).toBe(failed.headers['x-request-id']);
  });
});
