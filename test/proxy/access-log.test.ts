import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type LogLevel } from '../../common/log.ts';
import { createAccessLog } from '../../proxy/access-log.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { connectThroughGuard, waitConnected } from '../e2e/socket-helpers.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import { send } from '../support/policy-requests.ts';
import { sendRaw } from '../support/raw-http.ts';

let app: OcommsDouble;
let logging: TestGuard;
let quiet: TestGuard;

beforeAll(async () => {
  app = await startOcommsDouble();
  logging = await startTestGuard(app.url);
  quiet = await startTestGuard(app.url, { log: { level: 'debug', access: false } });
});
afterAll(async () => {
  await Promise.all([logging.close(), quiet.close()]);
  await app.close();
});

// A refused cross-site POST is a security event; a plain GET is only traffic.
async function trafficAndRefusal(guard: TestGuard) {
  expect((await send(guard, '/api/echo')).status).toBe(200);
  const refused = await send(guard, '/api/echo', {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
  });
  expect(refused.status).toBe(403);
}

const requestLines = (guard: TestGuard) => guard.logs.filter((line) => line.msg === 'request');
const deniedEvents = (guard: TestGuard) =>
  guard.logs.filter(
    (line) => (line.event as { type?: string } | undefined)?.type === 'origin.denied',
  );

describe('the access log', () => {
  it('has one line per request by default', async () => {
    await trafficAndRefusal(logging);
    await expect.poll(() => requestLines(logging).length).toBe(2);
    expect(requestLines(logging).map((line) => line.status)).toEqual([200, 403]);
    expect(deniedEvents(logging)).toHaveLength(1);
  });

  it('has a line for each WebSocket handshake, taken or refused', async () => {
    const socket = connectThroughGuard(logging, { transports: ['websocket'] });
    try {
      await waitConnected(socket);
    } finally {
      socket.close();
    }
    await expect
      .poll(() => requestLines(logging).filter((line) => line.status === 101))
      .toHaveLength(1);
    const [taken] = requestLines(logging).filter((line) => line.status === 101);
    expect(taken).toMatchObject({ method: 'GET', path: '/socket.io/', listener: 'https' });
    expect(taken?.upstreamMs).toEqual(expect.any(Number));

    const refused = await sendRaw(
      logging.guard.ports.https,
      logging.ca,
      'GET /socket.io/?transport=websocket HTTP/1.1\r\nHost: localhost\r\n' +
        'Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    );
    expect(refused).toMatch(/^HTTP\/1\.1 400 /);
    await expect
      .poll(() => requestLines(logging).filter((line) => line.path === '/socket.io/'))
      .toHaveLength(2);
    expect(requestLines(logging).at(-1)).toMatchObject({ status: 400, method: 'GET' });
  });

  it('can be turned off while security events are still logged', async () => {
    await trafficAndRefusal(quiet);
    await expect.poll(() => deniedEvents(quiet).length).toBe(1);
    expect(requestLines(quiet)).toHaveLength(0);
    expect(quiet.logs.some((line) => line.msg === 'guard started')).toBe(true);
  });
});

describe('access lines in batches', () => {
  function capture(level: LogLevel = 'info') {
    const lines: Record<string, unknown>[] = [];
    const writes: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        writes.push(String(chunk));
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const logger = createLogger(level, sink).child({ component: 'proxy' });
    return { lines, writes, log: createAccessLog(logger) };
  }
  const record = (reqId: string) => ({
    reqId,
    listener: 'https',
    clientIp: '192.0.2.1',
    method: 'GET',
    path: '/',
    route: 'pages',
    status: 200,
    durationMs: 1.5,
    upstreamMs: 1.2,
  });

  it('are written in order once the current turn is over, in one write', async () => {
    const { lines, writes, log } = capture();
    log.write(record('a'));
    log.write(record('b'));
    expect(lines).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => [line.msg, line.reqId])).toEqual([
      ['request', 'a'],
      ['request', 'b'],
    ]);
    expect(writes).toHaveLength(1);
    for (const line of writes[0]!.split('\n').filter(Boolean)) {
      expect(line.match(/"service":/g)).toHaveLength(1);
      expect(line.match(/"component":/g)).toHaveLength(1);
    }
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'ocomms-guard',
      component: 'proxy',
      status: 200,
      durationMs: 1.5,
    });
    log.write(record('c'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => line.reqId)).toEqual(['a', 'b', 'c']);
  });

  it('are written at once when flushed, and only once', async () => {
    const { lines, log } = capture();
    log.write(record('x'));
    log.flush();
    expect(lines.map((line) => line.reqId)).toEqual(['x']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(1);
  });

  it('are well-formed JSON whatever the path holds, and leave out what is unknown', () => {
    const { lines, log } = capture();
    const path = '/a"b\\c\u0001\u2028é</script>';
    log.write({ ...record('q'), path, method: undefined, upstreamMs: undefined });
    log.flush();
    expect(lines[0]).toMatchObject({ reqId: 'q', path, msg: 'request' });
    expect(lines[0]).not.toHaveProperty('method');
    expect(lines[0]).not.toHaveProperty('upstreamMs');
    expect(typeof lines[0]?.time).toBe('string');
  });

  it('are not written when the level leaves info out', async () => {
    const { writes, log } = capture('warn');
    log.write(record('w'));
    await new Promise((resolve) => setImmediate(resolve));
    log.flush();
    expect(writes).toHaveLength(0);
  });
});
