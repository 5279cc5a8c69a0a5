import type { Socket } from 'socket.io-client';
import { fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';
import {
  connectThroughGuard,
  nextEvent,
  pollUntil,
  readMetric,
  roundTripEcho,
  sendUpgrade,
  type TransportName,
  transportOf,
  unlessDisconnected,
  waitConnected,
} from './socket-helpers.ts';

// Socket.IO through the guard over TLS, against the OComms double: every
// transport the app uses, idle timeouts, the WebSocket gauge, and what a
// client sees when the app refuses the handshake or is not there at all.

const FOREIGN_ORIGIN = 'https://evil.example';
const APP_BAD_REQUEST = { code: 3, message: 'Bad request' };

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;
const sockets: Socket[] = [];

async function startStack(overrides: Record<string, unknown> = {}) {
  double = await startOcommsDouble();
  guard = await startTestGuard(double.url, overrides);
  return { double, guard };
}

function open(target: TestGuard, transports: TransportName[], extra?: Record<string, string>) {
  const socket = connectThroughGuard(target, {
    transports,
    ...(extra ? { extraHeaders: extra } : {}),
  });
  sockets.push(socket);
  return socket;
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await guard?.close();
  await double?.close();
  guard = undefined;
  double = undefined;
});

/** hello on connect, an echo both ways, and an acknowledged emit. */
async function expectConversation(socket: Socket, hello: Promise<unknown>) {
  expect(await hello).toEqual({ id: socket.id, userId: null });
  expect(await roundTripEcho(socket, { text: 'héllo', n: 1 })).toEqual({ text: 'héllo', n: 1 });

  const ack = await socket.timeout(5000).emitWithAck('ping-ack', { n: 2 });
  expect(ack).toMatchObject({ pong: true, payload: { n: 2 } });
}

function socketRequests(stack: OcommsDouble, transport: TransportName) {
  return stack.requests.filter(
    (entry) => entry.url.startsWith('/socket.io/') && entry.url.includes(`transport=${transport}`),
  );
}

describe('socket.io through the guard', () => {
  it('talks over a websocket-only transport', async () => {
    const stack = await startStack();
    const socket = open(stack.guard, ['websocket']);
    const hello = nextEvent(socket, 'hello');

    await waitConnected(socket);
    expect(transportOf(socket)).toBe('websocket');
    await expectConversation(socket, hello);
    const upgrades = socketRequests(stack.double, 'websocket');
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]?.headers.upgrade).toBe('websocket');
    expect(upgrades[0]?.headers['x-forwarded-proto']).toBe('https');
  });

  it('starts with long-polling and upgrades to a websocket', async () => {
    const stack = await startStack();
    const socket = open(stack.guard, ['polling', 'websocket']);
    const hello = nextEvent(socket, 'hello');
    // The engine is created with its first transport before any byte is sent.
    expect(transportOf(socket)).toBe('polling');
    const upgraded = nextEvent<{ name: string }>(socket.io.engine, 'upgrade');

    await waitConnected(socket);
    expect((await unlessDisconnected(socket, upgraded)).name).toBe('websocket');
    expect(transportOf(socket)).toBe('websocket');
    await expectConversation(socket, hello);

    expect(socketRequests(stack.double, 'polling').length).toBeGreaterThan(0);
    expect(socketRequests(stack.double, 'websocket')).toHaveLength(1);
  });

  it('works over long-polling alone', async () => {
    const stack = await startStack();
    const socket = open(stack.guard, ['polling']);
    const hello = nextEvent(socket, 'hello');

    await waitConnected(socket);
    await expectConversation(socket, hello);
    expect(transportOf(socket)).toBe('polling');

    const polls = socketRequests(stack.double, 'polling');
    expect(polls.some((entry) => entry.method === 'GET' && entry.url.includes('sid='))).toBe(true);
    expect(polls.some((entry) => entry.method === 'POST')).toBe(true);
    expect(socketRequests(stack.double, 'websocket')).toHaveLength(0);
  });

  // The guard's keep-alive timeout is for idle HTTP connections between
  // requests; a joined WebSocket or a held long-poll must outlive it.
  it.each([['websocket'], ['polling']] as const)(
    'keeps a %s connection past the keep-alive timeout',
    async (transport) => {
      const stack = await startStack({ limits: { keepAliveTimeoutMs: 1000 } });
      const socket = open(stack.guard, [transport]);
      const disconnects: string[] = [];
      socket.on('disconnect', (reason) => disconnects.push(reason));
      await waitConnected(socket);
      const firstId = socket.id;
      expect(await roundTripEcho(socket, 'before')).toBe('before');

      await new Promise((resolve) => setTimeout(resolve, 2500));

      expect(disconnects).toEqual([]);
      expect(socket.connected).toBe(true);
      expect(socket.id).toBe(firstId);
      expect(await roundTripEcho(socket, 'after')).toBe('after');
      const ack = await socket.timeout(5000).emitWithAck('ping-ack', 'after');
      expect(ack).toMatchObject({ pong: true, payload: 'after' });
    },
  );

  it('counts an open websocket in guard_websockets_open and forgets it on disconnect', async () => {
    const stack = await startStack();
    expect(await readMetric(stack.guard, 'guard_websockets_open')).toBe(0);
    const socket = open(stack.guard, ['websocket']);
    await waitConnected(socket);

    expect(await readMetric(stack.guard, 'guard_websockets_open')).toBe(1);
    socket.disconnect();
    const read = () => readMetric(stack.guard, 'guard_websockets_open');
    expect(await pollUntil(read, 0)).toBe(0);
    expect(await readMetric(stack.guard, 'guard_websockets_total')).toBe(1);
  });

  it('refuses a foreign Origin itself, for both transports, before the app sees it', async () => {
    const stack = await startStack();
    const path = '/socket.io/?EIO=4&transport=websocket';

    const upgrade = await sendUpgrade(stack.guard, path, { origin: FOREIGN_ORIGIN });
    expect(upgrade).toMatchObject({ kind: 'refused', status: 403 });
    if (upgrade.kind === 'refused') {
      expect(JSON.parse(upgrade.body)).toMatchObject({ code: 'GUARD_ERR_ORIGIN_REFUSED' });
    }

    const poll = await fetch(`${stack.guard.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { origin: FOREIGN_ORIGIN },
      dispatcher: stack.guard.agent,
    });
    expect(poll.status).toBe(403);
    expect(await poll.json()).toMatchObject({ code: 'GUARD_ERR_ORIGIN_REFUSED' });

    const socket = open(stack.guard, ['websocket'], { origin: FOREIGN_ORIGIN });
    await expect(waitConnected(socket)).rejects.toThrow(/connect_error/);
    expect(socketRequests(stack.double, 'websocket')).toHaveLength(0);
    expect(socketRequests(stack.double, 'polling')).toHaveLength(0);
    const refusals = stack.guard.logs.filter(
      (line) => (line.event as { type?: string } | undefined)?.type === 'origin.denied',
    );
    expect(refusals.length).toBeGreaterThanOrEqual(3);
  });

  it("passes the app's 400 for a foreign Origin on when the guard leaves origins alone", async () => {
    const stack = await startStack({ crossOrigin: { enabled: false } });
    const path = '/socket.io/?EIO=4&transport=websocket';

    const upgrade = await sendUpgrade(stack.guard, path, { origin: FOREIGN_ORIGIN });
    expect(upgrade).toMatchObject({ kind: 'refused', status: 400 });
    if (upgrade.kind === 'refused') expect(JSON.parse(upgrade.body)).toEqual(APP_BAD_REQUEST);

    const poll = await fetch(`${stack.guard.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { origin: FOREIGN_ORIGIN },
      dispatcher: stack.guard.agent,
    });
    expect(poll.status).toBe(400);
    expect(await poll.json()).toEqual(APP_BAD_REQUEST);
  });

  it('accepts the handshake when Origin is the public https origin', async () => {
    const stack = await startStack();
    const origin = new URL(stack.guard.url).origin;
    const socket = open(stack.guard, ['polling', 'websocket'], { origin });
    const hello = nextEvent(socket, 'hello');
    const upgraded = nextEvent(socket.io.engine, 'upgrade');

    await waitConnected(socket);
    await unlessDisconnected(socket, upgraded);
    await expectConversation(socket, hello);
    expect(transportOf(socket)).toBe('websocket');
  });

  it('fails a websocket connect cleanly when the upstream is down and stays up', async () => {
    const stack = await startStack();
    await stack.double.close();

    const upgrade = await sendUpgrade(stack.guard, '/socket.io/?EIO=4&transport=websocket');
    expect(upgrade).toMatchObject({ kind: 'refused', status: 502 });
    if (upgrade.kind === 'refused') {
      expect(JSON.parse(upgrade.body)).toMatchObject({ code: 'GUARD_ERR_UPSTREAM_UNREACHABLE' });
    }
    const socket = open(stack.guard, ['websocket']);
    await expect(waitConnected(socket)).rejects.toThrow(/connect_error/);

    const next = await fetch(`${stack.guard.url}/api/health`, { dispatcher: stack.guard.agent });
    expect(next.status).toBe(502);
    expect(next.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await next.json()).toMatchObject({ code: 'GUARD_ERR_UPSTREAM_UNREACHABLE' });
    expect(await readMetric(stack.guard, 'guard_websockets_open')).toBe(0);
  });
});
