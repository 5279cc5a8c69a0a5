import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { freshClientIp, presetLimitsOff, send } from '../support/policy-requests.ts';

let app: OcommsDouble;
let guard: TestGuard;

const ENDPOINT = '/_guard/csp-report';
const LIMIT = 5;

beforeAll(async () => {
  app = await startOcommsDouble();
  guard = await startTestGuard(app.url, {
    rateLimits: presetLimitsOff(),
    trustedProxies: ['127.0.0.1'],
    cspReports: { enabled: true, maxBytes: '2KiB', limit: LIMIT, windowSeconds: 60 },
  });
});
afterAll(async () => {
  await guard.close();
  await app.close();
});

const reportUri = {
  'csp-report': {
    'document-uri': 'https://localhost/acme/general?invite=secret-invite-token#top',
    referrer: 'https://localhost/login?token=secret-referrer',
    'violated-directive': "script-src-elem 'self'",
    'effective-directive': 'script-src-elem',
    'original-policy': "default-src 'self'",
    'blocked-uri': 'https://user:hunter2@cdn.evil.example/x.js?session=secret-query',
    disposition: 'enforce',
    'status-code': 200,
  },
};

const reportTo = [
  {
    type: 'csp-violation',
    age: 10,
    url: 'https://localhost/acme/settings?tab=secret-tab',
    user_agent: 'Mozilla/5.0',
    body: {
      documentURL: 'https://localhost/acme/settings?tab=secret-tab',
      blockedURL: 'inline',
      effectiveDirective: 'style-src-attr',
      disposition: 'report',
      sample: 'secret-sample',
    },
  },
  { type: 'deprecation', age: 1, url: 'https://localhost/', body: { id: 'x' } },
  {
    type: 'csp-violation',
    age: 11,
    url: 'https://localhost/login',
    body: {
      documentURL: 'https://localhost/login',
      blockedURL: 'wss://other.example/socket.io/?sid=secret-sid',
      effectiveDirective: 'connect-src',
      disposition: 'enforce',
    },
  },
];

function report(body: string, contentType: string, clientIp = freshClientIp()) {
  const headers = { 'content-type': contentType, 'x-forwarded-for': clientIp };
  return send(guard, ENDPOINT, { method: 'POST', body, headers });
}

function violations(clientIp: string) {
  return guard.logs
    .map((line) => line.event as Record<string, unknown> | undefined)
    .filter((event) => event?.type === 'csp.violation' && event.clientIp === clientIp);
}

describe('CSP reports at the guard', () => {
  it('records a report-uri report without queries, credentials or samples', async () => {
    const clientIp = freshClientIp();
    const before = app.requests.length;
    const answer = await report(JSON.stringify(reportUri), 'application/csp-report', clientIp);
    expect(answer.status).toBe(204);
    expect(answer.text).toBe('');
    expect(app.requests.length).toBe(before);
    const [event, ...rest] = violations(clientIp);
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({ outcome: 'info', route: 'csp-report', path: ENDPOINT });
    expect(event?.details).toEqual({
      directive: 'script-src-elem',
      blockedUri: 'https://cdn.evil.example/x.js',
      page: '/acme/general',
      disposition: 'enforce',
    });
    expect(guard.logText()).not.toMatch(/secret-|hunter2/);
  });

  it('records each CSP report of a Reporting API delivery and skips other types', async () => {
    const clientIp = freshClientIp();
    const answer = await report(JSON.stringify(reportTo), 'application/reports+json', clientIp);
    expect(answer.status).toBe(204);
    const details = violations(clientIp).map((event) => event?.details);
    expect(details).toEqual([
      {
        directive: 'style-src-attr',
        blockedUri: 'inline',
        page: '/acme/settings',
        disposition: 'report',
      },
      {
        directive: 'connect-src',
        blockedUri: 'wss://other.example/socket.io/',
        page: '/login',
        disposition: 'enforce',
      },
    ]);
    expect(guard.logText()).not.toMatch(/secret-/);
  });

  it('refuses a report over the size cap and records nothing', async () => {
    const clientIp = freshClientIp();
    const padded = { 'csp-report': { ...reportUri['csp-report'], pad: 'x'.repeat(4096) } };
    const answer = await report(JSON.stringify(padded), 'application/csp-report', clientIp);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'GUARD_ERR_BODY_TOO_LARGE' });
    expect(violations(clientIp)).toHaveLength(0);
  });

  it('refuses a flood from one client and keeps counting others apart', async () => {
    const clientIp = freshClientIp();
    const body = JSON.stringify(reportUri);
    const statuses: number[] = [];
    for (let index = 0; index < LIMIT + 3; index += 1) {
      statuses.push((await report(body, 'application/csp-report', clientIp)).status);
    }
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(204));
    expect(statuses.slice(LIMIT)).toEqual([429, 429, 429]);
    expect(violations(clientIp)).toHaveLength(LIMIT);
    expect((await report(body, 'application/csp-report')).status).toBe(204);
  });

  it('refuses what is not a report', async () => {
    expect((await report('{"a":1}', 'text/plain')).status).toBe(415);
    expect((await report('not json', 'application/csp-report')).status).toBe(400);
    expect((await report('{"a":1}', 'application/reports+json')).status).toBe(400);
    const get = await send(guard, ENDPOINT);
    expect(get.status).toBe(405);
  });

  it('points the policy it sends at the endpoint, both ways', async () => {
    const page = await send(guard, '/login');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain(`report-uri ${ENDPOINT}`);
    expect(csp).toContain('report-to csp-endpoint');
    expect(page.headers['reporting-endpoints']).toBe(`csp-endpoint="${ENDPOINT}"`);
  });

  it('is off by default: no endpoint, no reporting directives', async () => {
    const plain = await startTestGuard(app.url, { rateLimits: presetLimitsOff() });
    try {
      const page = await send(plain, '/login');
      expect(String(page.headers['content-security-policy'])).not.toContain('report-');
      expect(page.headers['reporting-endpoints']).toBeUndefined();
      const before = app.requests.length;
      await send(plain, ENDPOINT, { body: JSON.stringify(reportUri) });
      expect(app.requests.length).toBe(before + 1);
    } finally {
      await plain.close();
    }
  });
});
