import { rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import type { Socket } from 'socket.io-client';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import {
  connectThroughGuard,
  nextEvent,
  roundTripEcho,
  transportOf,
  waitConnected,
} from '../e2e/socket-helpers.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { parseResponses, sendRaw } from '../support/raw-http.ts';
import { createTestCa } from '../support/test-ca.ts';

// A reload changes policies for the next request and leaves everything that
// is already open alone: the Socket.IO WebSocket below is opened before the
// reload and keeps talking after it, on the same connection.

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;
const sockets: Socket[] = [];

const smallApi = {
  routes: [{ name: 'api', path: '/api/', prefix: true, maxBodyBytes: '1KiB' }],
  headers: { xFrameOptions: 'DENY' },
};

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await guard?.close();
  await double?.close();
  guard = undefined;
  double = undefined;
});

async function startStack(overrides: Record<string, unknown> = smallApi) {
  double = await startOcommsDouble();
  guard = await startTestGuard(double.url, overrides);
  return guard;
}

async function postEcho(target: TestGuard, bytes: number) {
  const response = await request(`${target.url}/api/echo`, {
    method: 'POST',
    dispatcher: target.agent,
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(bytes, 'a'),
  });
  await response.body.text();
  return response;
}

async function frameOptions(target: TestGuard): Promise<unknown> {
  const response = await request(`${target.url}/api/health`, { dispatcher: target.agent });
  await response.body.text();
  return response.headers['x-frame-options'];
}

// The names in the certificate the guard presents for `servername`, verified
// against the guard's CA.
function servedNames(target: TestGuard, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port: target.guard.ports.https, ca: target.ca, servername },
      () => {
        resolve(socket.getPeerCertificate().subjectaltname ?? '');
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

async function openSocket(target: TestGuard): Promise<Socket> {
  const socket = connectThroughGuard(target, { transports: ['websocket'] });
  sockets.push(socket);
  await waitConnected(socket);
  return socket;
}

describe('reload', () => {
  it('applies a new limit and header to the next request; a websocket talks on', async () => {
    const stack = await startStack();
    const socket = await openSocket(stack);
    const disconnects: string[] = [];
    socket.on('disconnect', (reason) => disconnects.push(reason));
    const firstId = socket.id;
    expect(await roundTripEcho(socket, 'before')).toBe('before');
    expect((await postEcho(stack, 4000)).statusCode).toBe(413);
    expect(await frameOptions(stack)).toBe('DENY');

    stack.rewriteConfig({
      routes: [{ name: 'api', path: '/api/', prefix: true, maxBodyBytes: '64KiB' }],
      headers: { xFrameOptions: 'SAMEORIGIN' },
    });
    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({ status: 'applied', changed: ['headers', 'routes'] });
    expect((await postEcho(stack, 4000)).statusCode).toBe(200);
    expect(await frameOptions(stack)).toBe('SAMEORIGIN');
    expect(await roundTripEcho(socket, 'after')).toBe('after');
    const ack = await socket.timeout(5000).emitWithAck('ping-ack', 'after');
    expect(ack).toMatchObject({ pong: true, payload: 'after' });
    expect(socket.id).toBe(firstId);
    expect(transportOf(socket)).toBe('websocket');
    expect(disconnects).toEqual([]);

    const event = stack.logs.find(
      (line) => (line.event as { type?: string } | undefined)?.type === 'config.reloaded',
    );
    expect(event?.event).toMatchObject({
      outcome: 'success',
      details: { channel: 'admin', requestedBy: 'test', changed: 'headers,routes' },
    });
  });

  it('applies new admin networks, allowed origins and CSP report settings', async () => {
    const stack = await startStack({
      adminAccess: { allow: ['10.0.0.0/8'] },
      cspReports: { enabled: false },
    });
    const partner = 'https://partner.example';
    const adminList = async () => {
      const response = await request(`${stack.url}/api/admin/audit-logs`, {
        dispatcher: stack.agent,
      });
      const text = await response.body.text();
      const code = text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined;
      return { status: response.statusCode, code };
    };
    const postFrom = async (origin: string) => {
      const response = await request(`${stack.url}/api/echo`, {
        method: 'POST',
        dispatcher: stack.agent,
        headers: { 'content-type': 'application/json', origin },
        body: '{}',
      });
      await response.body.text();
      return response.statusCode;
    };
    const reportStatus = async () => {
      const response = await request(`${stack.url}/_guard/csp-report`, {
        method: 'POST',
        dispatcher: stack.agent,
        headers: { 'content-type': 'application/csp-report' },
        body: JSON.stringify({ 'csp-report': { 'violated-directive': 'img-src' } }),
      });
      await response.body.text();
      return response.statusCode;
    };
    expect(await adminList()).toMatchObject({
      status: 403,
      code: expect.stringMatching(/^GUARD_/),
    });
    expect(await postFrom(partner)).toBe(403);
    const reportBefore = await reportStatus();

    stack.rewriteConfig({
      adminAccess: { allow: ['10.0.0.0/8', '127.0.0.1/32'] },
      crossOrigin: { allowedOrigins: ['https://localhost', partner] },
      cspReports: { enabled: true },
    });
    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({
      status: 'applied',
      changed: ['adminAccess', 'crossOrigin', 'cspReports'],
      restartRequired: [],
    });
    expect((await adminList()).code ?? '').not.toMatch(/^GUARD_/);
    expect(await postFrom(partner)).toBe(200);
    expect(reportBefore).not.toBe(204);
    expect(await reportStatus()).toBe(204);
  });

  it('refuses an invalid file with every error, and the old policies carry on', async () => {
    const stack = await startStack();
    const socket = await openSocket(stack);
    const text = [
      `upstream: { url: "${double?.url}" }`,
      `dataDir: "${stack.dataDir}"`,
      'listen: { https: "127.0.0.1:0", http: "127.0.0.1:0", admin: "127.0.0.1:0" }',
      'limits: { maxBodyBytes: -5 }',
      'headerz: {}',
    ].join('\n');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(stack.configFile, text);

    const outcome = await stack.guard.reload({ channel: 'signal', requestedBy: 'SIGHUP' });

    expect(outcome).toMatchObject({ status: 'refused', code: 'GUARD_ERR_CONFIG_INVALID' });
    if (outcome.status !== 'refused') throw new Error('not refused');
    expect(outcome.problems.map((problem) => problem.path).sort()).toEqual([
      'headerz',
      'limits.maxBodyBytes',
    ]);
    const line = stack.logs.find((entry) => entry.msg === 'configuration reload refused');
    expect(line?.problems).toEqual([
      expect.stringMatching(/^limits\.maxBodyBytes \(line 4\): .*found -5/),
      expect.stringMatching(/^headerz \(line 5\): unknown key; did you mean "headers"\?/),
    ]);
    const event = stack.logs.find(
      (entry) => (entry.event as { type?: string } | undefined)?.type === 'config.reload_failed',
    );
    expect(event?.event).toMatchObject({
      outcome: 'failure',
      details: { channel: 'signal', requestedBy: 'SIGHUP', errors: 2 },
    });

    expect((await postEcho(stack, 4000)).statusCode).toBe(413);
    expect(await frameOptions(stack)).toBe('DENY');
    expect(await roundTripEcho(socket, 'still')).toBe('still');
    const metrics = await (await fetch(`${stack.adminUrl}/metrics`)).text();
    expect(metrics).toContain('guard_config_reloads_total{channel="signal",outcome="refused"} 1');
    expect(metrics).toContain('guard_config_last_reload_successful 0');
  });

  it('gives new connections a lowered header size limit', async () => {
    const stack = await startStack();
    const port = stack.guard.ports.https;
    const head = `GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(6000)}\r\n`;
    const ask = async () => {
      const raw = await sendRaw(port, stack.ca, `${head}Connection: close\r\n\r\n`);
      return parseResponses(raw)[0]?.status;
    };
    expect(await ask()).toBe(200);

    stack.rewriteConfig({ ...smallApi, limits: { maxHeaderBytes: '4KiB' } });
    expect(await stack.guard.reload({ channel: 'admin', requestedBy: 'test' })).toMatchObject({
      status: 'applied',
      changed: ['limits'],
    });

    expect(await ask()).toBe(431);
  });

  it('issues a certificate for an added domain, and serves the old names', async () => {
    const stack = await startStack();
    const before = stack.guard.runtime.certificateStore.lookup('localhost')?.fingerprint;

    stack.rewriteConfig({ ...smallApi, tls: { domains: ['localhost', 'chat.guard.test'] } });
    expect(await stack.guard.reload({ channel: 'admin', requestedBy: 'test' })).toMatchObject({
      status: 'applied',
      changed: ['tls'],
      replaced: ['tls'],
    });

    expect(await servedNames(stack, 'chat.guard.test')).toContain('DNS:chat.guard.test');
    expect(await servedNames(stack, 'localhost')).toContain('DNS:localhost');
    expect(stack.guard.runtime.certificateStore.lookup('localhost')?.fingerprint).not.toBe(before);
  });

  it('refuses certificates that do not load; the running ones serve on', async () => {
    const stack = await startStack();
    const running = stack.guard.runtime.resources.names().sort();
    const missing = `${stack.dataDir}/missing`;
    stack.rewriteConfig({
      ...smallApi,
      headers: { xFrameOptions: 'SAMEORIGIN' },
      tls: { mode: 'files', files: { cert: `${missing}.crt`, key: `${missing}.key` } },
    });

    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({ status: 'refused', code: 'GUARD_ERR_TLS_MATERIAL' });
    expect(await frameOptions(stack)).toBe('DENY');
    expect(await servedNames(stack, 'localhost')).toContain('DNS:localhost');
    expect(stack.guard.runtime.resources.names().sort()).toEqual(running);
    expect(running).toEqual(expect.arrayContaining(['tls', 'upstream']));
  });

  it('keeps the database tunnel as it runs and says a restart is needed for its change', async () => {
    double = await startOcommsDouble();
    const ca = createTestCa('reload-tunnel');
    const tunnel = { listen: '127.0.0.1:0', target: '127.0.0.1:5432', tls: { ca: ca.certPath } };
    const stack = await startTestGuard(double.url, { ...smallApi, dbTunnel: tunnel });
    guard = stack;
    const port = stack.guard.ports.dbTunnel;
    expect(port).toBeGreaterThan(0);

    stack.rewriteConfig({ ...smallApi, dbTunnel: { ...tunnel, target: '127.0.0.1:6543' } });
    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({
      status: 'applied',
      changed: [],
      restartRequired: ['dbTunnel'],
    });
    expect(stack.guard.ports.dbTunnel).toBe(port);
    expect(stack.guard.runtime.policies.config.dbTunnel?.target).toBe('127.0.0.1:5432');
    rmSync(ca.dir, { recursive: true, force: true });
  });

  it('keeps the running dataDir and says a restart is needed for it', async () => {
    const stack = await startStack();
    stack.rewriteConfig({ dataDir: `${stack.dataDir}-elsewhere`, trustedProxies: ['10.0.0.0/8'] });

    const outcome = await stack.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({
      status: 'applied',
      changed: ['trustedProxies'],
      restartRequired: ['dataDir'],
    });
    expect(stack.guard.runtime.policies.config.dataDir).toBe(stack.dataDir);
    expect(stack.guard.runtime.policies.config.trustedProxies).toEqual(['10.0.0.0/8']);
    const warning = stack.logs.find(
      (entry) => entry.msg === 'configuration changes wait for a restart',
    );
    expect(warning?.restartRequired).toEqual(['dataDir']);
  });

  it('keeps pool and certificates while unchanged; a new pool lets the old finish', async () => {
    const stack = await startStack();
    const { runtime } = stack.guard;
    const pool = runtime.upstream;
    const certificate = runtime.certificateStore.lookup('localhost');

    stack.rewriteConfig({ ...smallApi, headers: { xFrameOptions: 'SAMEORIGIN' } });
    expect(await stack.guard.reload({ channel: 'admin', requestedBy: 'test' })).toMatchObject({
      replaced: [],
    });
    expect(runtime.upstream).toBe(pool);
    expect(runtime.certificateStore.lookup('localhost')?.fingerprint).toBe(
      certificate?.fingerprint,
    );

    const inFlight = request(`${stack.url}/api/slow?ms=1500`, { dispatcher: stack.agent });
    await new Promise((resolve) => setTimeout(resolve, 300));
    stack.rewriteConfig({ ...smallApi, upstream: { url: double?.url, responseTimeoutMs: 5000 } });
    expect(await stack.guard.reload({ channel: 'admin', requestedBy: 'test' })).toMatchObject({
      changed: ['headers', 'upstream'],
      replaced: ['upstream'],
    });
    expect(runtime.upstream).not.toBe(pool);
    const slow = await inFlight;
    expect(slow.statusCode).toBe(200);
    expect(await slow.body.json()).toEqual({ delayedMs: 1500 });
    expect((await postEcho(stack, 10)).statusCode).toBe(200);
    const hello = nextEvent(await openSocket(stack), 'echo', 5000);
    sockets.at(-1)?.emit('echo', 'fresh');
    expect(await hello).toBe('fresh');
  });
});
