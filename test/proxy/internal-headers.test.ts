import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';
import { waitFor } from '../support/wait-for.ts';

type Echo = { headers: Record<string, string | string[]>; rawHeaders: string[] };

let app: OcommsDouble;

beforeAll(async () => {
  app = await startOcommsDouble();
});
afterAll(async () => {
  await app.close();
});

async function rawEcho(guard: TestGuard, lines: string[]): Promise<Echo> {
  const head = ['GET /api/echo HTTP/1.1', 'Host: localhost', 'Connection: close', ...lines];
  const text = await sendRaw(guard.guard.ports.https, guard.ca, `${head.join('\r\n')}\r\n\r\n`);
  const [response] = parseResponses(text);
  expect(response?.status).toBe(200);
  return JSON.parse(response?.body ?? '{}') as Echo;
}

async function echo(guard: TestGuard, headers: Record<string, string>): Promise<Echo> {
  const response = await request(`${guard.url}/api/echo`, { dispatcher: guard.agent, headers });
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as Echo;
}

function namesSeen(seen: Echo): string[] {
  return seen.rawHeaders.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase());
}

// A browser's App Router navigation, prefetch and Server Action, and the Pages
// Router's data requests: none of these may be touched.
const routerHeaders = {
  rsc: '1',
  'next-router-state-tree': '%5B%22%22%2C%7B%7D%5D',
  'next-router-prefetch': '1',
  'next-router-segment-prefetch': '/_tree',
  'next-url': '/team/settings',
  'next-action': '7f3a9c',
  'x-nextjs-data': '1',
  'x-middleware-prefetch': '1',
  purpose: 'prefetch',
};

describe('Next.js internal request headers, preset ocomms', () => {
  let guard: TestGuard;
  beforeAll(async () => {
    guard = await startTestGuard(app.url);
  });
  afterAll(async () => {
    await guard.close();
  });

  it('blocks the middleware bypass: x-middleware-subrequest in any case, repeated, or in Connection', async () => {
    const seen = await rawEcho(guard, [
      'X-Middleware-Subrequest: middleware:middleware:middleware:middleware:middleware',
      'x-middleware-subrequest: src/middleware',
      'X-MIDDLEWARE-SUBREQUEST: pages/_middleware',
      'X-Middleware-Subrequest-Id: forged-id',
      'Connection: x-middleware-subrequest',
      'X-Kept: yes',
    ]);
    expect(namesSeen(seen)).not.toContain('x-middleware-subrequest');
    expect(namesSeen(seen)).not.toContain('x-middleware-subrequest-id');
    expect(JSON.stringify(seen)).not.toContain('middleware:middleware');
    expect(seen.headers['x-kept']).toBe('yes');
  });

  it('drops the other internal names and the x-middleware-request- prefix', async () => {
    const internal = [
      'x-middleware-invoke',
      'x-invoke-path',
      'x-invoke-query',
      'x-invoke-output',
      'x-invoke-status',
      'x-invoke-error',
      'x-middleware-rewrite',
      'x-middleware-next',
      'x-middleware-redirect',
      'x-middleware-set-cookie',
      'x-middleware-override-headers',
      'x-middleware-skip',
      'x-middleware-request-cookie',
      'x-matched-path',
      'x-now-route-matches',
      'next-resume',
    ];
    const seen = await echo(guard, Object.fromEntries(internal.map((name) => [name, 'forged'])));
    expect(namesSeen(seen).filter((name) => internal.includes(name))).toEqual([]);
    expect(JSON.stringify(seen)).not.toContain('forged');
  });

  it("keeps the headers Next.js' own client sends", async () => {
    const seen = await echo(guard, routerHeaders);
    for (const [name, value] of Object.entries(routerHeaders)) {
      expect(seen.headers[name], name).toBe(value);
    }
  });

  it('strips a WebSocket handshake the same way', async () => {
    const marker = `internal-upgrade-${Date.now()}`;
    const head = [
      `GET /socket.io/?EIO=4&transport=websocket&${marker} HTTP/1.1`,
      'Host: localhost',
      'Connection: Upgrade, X-Middleware-Next',
      'Upgrade: websocket',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      'X-Middleware-Subrequest: middleware',
      'X-Middleware-Next: 1',
      'X-Middleware-Request-Authorization: forged',
      'RSC: 1',
    ];
    const sent = sendRaw(guard.guard.ports.https, guard.ca, `${head.join('\r\n')}\r\n\r\n`, 1500);
    await waitFor(() => app.requests.some((entry) => entry.url.includes(marker)), 15_000);
    const seen = app.requests.find((entry) => entry.url.includes(marker));
    const names = (seen?.rawHeaders ?? []).filter((_, index) => index % 2 === 0);
    expect(names.map((name) => name.toLowerCase())).not.toContain('x-middleware-subrequest');
    expect(seen?.headers['x-middleware-next']).toBeUndefined();
    expect(seen?.headers['x-middleware-request-authorization']).toBeUndefined();
    expect(seen?.headers.upgrade).toBe('websocket');
    expect(seen?.headers.rsc).toBe('1');
    expect(await sent).toMatch(/^HTTP\/1\.1 101 /);
  });

  it('counts what it drops and logs names, never values', async () => {
    await echo(guard, { 'x-middleware-subrequest': 'planted-value-7d1e' });
    await echo(guard, { 'x-middleware-request-x-user': 'planted-value-7d1e' });
    const metrics = await (await request(`${guard.adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(
      /guard_request_headers_dropped_total\{header="x-middleware-subrequest"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /guard_request_headers_dropped_total\{header="x-middleware-request-\*"\} [1-9]/,
    );
    await waitFor(() => guard.logText().includes('x-middleware-request-x-user'), 10_000);
    const lines = guard.logs.filter((entry) => entry.msg === 'client headers dropped');
    expect(lines.map((entry) => entry.droppedHeaders)).toContainEqual([
      'x-middleware-request-x-user',
    ]);
    expect(lines.every((entry) => typeof entry.reqId === 'string')).toBe(true);
    expect(guard.logText()).not.toContain('planted-value-7d1e');
  });
});

describe('upstream.dropRequestHeaders', () => {
  it('adds names and prefixes of the operator to the preset list', async () => {
    const guard = await startTestGuard(app.url, {
      upstream: {
        url: app.url,
        dropRequestHeaders: { names: ['X-Internal-User'], prefixes: ['x-debug-'] },
      },
    });
    try {
      const seen = await echo(guard, {
        'x-internal-user': 'admin',
        'x-debug-trace': 'on',
        'x-middleware-subrequest': 'middleware',
        'x-kept': 'yes',
      });
      expect(seen.headers['x-internal-user']).toBeUndefined();
      expect(seen.headers['x-debug-trace']).toBeUndefined();
      expect(seen.headers['x-middleware-subrequest']).toBeUndefined();
      expect(seen.headers['x-kept']).toBe('yes');
    } finally {
      await guard.close();
    }
  });

  it('turns the Next.js list off with nextjsInternal: false', async () => {
    const guard = await startTestGuard(app.url, {
      upstream: { url: app.url, dropRequestHeaders: { nextjsInternal: false } },
    });
    try {
      const seen = await echo(guard, { 'x-middleware-subrequest': 'middleware' });
      expect(seen.headers['x-middleware-subrequest']).toBe('middleware');
    } finally {
      await guard.close();
    }
  });

  it('takes a changed list on reload', async () => {
    const guard = await startTestGuard(app.url);
    try {
      expect((await echo(guard, { 'x-tenant-override': 'a' })).headers['x-tenant-override']).toBe(
        'a',
      );
      guard.rewriteConfig({
        upstream: { url: app.url, dropRequestHeaders: { names: ['x-tenant-override'] } },
      });
      const outcome = await guard.guard.reload({ channel: 'admin', requestedBy: 'test' });
      expect(outcome.status).toBe('applied');
      const seen = await echo(guard, { 'x-tenant-override': 'a' });
      expect(seen.headers['x-tenant-override']).toBeUndefined();
    } finally {
      await guard.close();
    }
  });

  it('follows the preset: none drops nothing unless asked', async () => {
    const plain = await startTestGuard(app.url, { preset: 'none' });
    const asked = await startTestGuard(app.url, {
      preset: 'none',
      upstream: { url: app.url, dropRequestHeaders: { nextjsInternal: true } },
    });
    try {
      const passed = await echo(plain, { 'x-middleware-subrequest': 'middleware' });
      expect(passed.headers['x-middleware-subrequest']).toBe('middleware');
      const dropped = await echo(asked, { 'x-middleware-subrequest': 'middleware' });
      expect(dropped.headers['x-middleware-subrequest']).toBeUndefined();
    } finally {
      await plain.close();
      await asked.close();
    }
  });
});
