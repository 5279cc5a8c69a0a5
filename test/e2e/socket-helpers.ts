import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { io, type Socket } from 'socket.io-client';
import type { TestGuard } from '../support/guard-harness.ts';

export type TransportName = 'polling' | 'websocket';

export type ConnectOptions = {
  transports: TransportName[];
  extraHeaders?: Record<string, string>;
};

const EVENT_TIMEOUT_MS = 5000;

// Reconnection is off so that a dropped connection shows up as a failure
// instead of being quietly repaired; forceNew keeps tests from sharing a
// Manager. TLS is verified against the guard's own CA, nothing is disabled.
export function connectThroughGuard(guard: TestGuard, options: ConnectOptions): Socket {
  return io(guard.url, {
    transports: options.transports,
    upgrade: options.transports.includes('websocket'),
    ca: guard.ca.toString('utf8'),
    extraHeaders: options.extraHeaders ?? {},
    reconnection: false,
    forceNew: true,
    timeout: EVENT_TIMEOUT_MS,
  });
}

/** The first arguments of the next `event`, or a rejection naming what never came. */
export function nextEvent<T = unknown>(
  emitter: { once(event: string, listener: (value: T) => void): unknown },
  event: string,
  timeoutMs = EVENT_TIMEOUT_MS,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${event}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Connects and resolves once Socket.IO says so; a connect_error rejects at once. */
export async function waitConnected(socket: Socket): Promise<void> {
  if (socket.connected) return;
  const failed = nextEvent<Error>(socket, 'connect_error').then((error) => {
    throw new Error(`connect_error: ${error.message}`);
  });
  failed.catch(() => {});
  await Promise.race([nextEvent(socket, 'connect'), failed]);
}

export function transportOf(socket: Socket): string | undefined {
  return socket.io.engine?.transport.name;
}

/** Rejects with the reason if the socket disconnects before `work` settles. */
export function unlessDisconnected<T>(socket: Socket, work: Promise<T>): Promise<T> {
  let onDisconnect: (reason: string) => void = () => {};
  const dropped = new Promise<never>((_resolve, reject) => {
    onDisconnect = (reason) => reject(new Error(`socket disconnected: ${reason}`));
    socket.once('disconnect', onDisconnect);
  });
  return Promise.race([work, dropped]).finally(() => socket.off('disconnect', onDisconnect));
}

/** Sends an echo and returns what came back. */
export function roundTripEcho(socket: Socket, payload: unknown): Promise<unknown> {
  const reply = nextEvent(socket, 'echo');
  socket.emit('echo', payload);
  return unlessDisconnected(socket, reply);
}

/** Reads one unlabelled gauge from the guard's Prometheus endpoint. */
export async function readMetric(guard: TestGuard, name: string): Promise<number | undefined> {
  const response = await fetch(`${guard.adminUrl}/metrics`);
  const text = await response.text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Polls until `read` yields `expected` or the deadline passes; returns the last value. */
export async function pollUntil<T>(read: () => Promise<T>, expected: T, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

export type UpgradeOutcome =
  | { kind: 'upgraded'; status: number }
  | { kind: 'refused'; status: number; headers: Record<string, unknown>; body: string };

/**
 * A bare WebSocket handshake over TLS, to see exactly what the guard answers
 * when the upgrade is not carried out (no client library in between).
 */
export function sendUpgrade(
  guard: TestGuard,
  path: string,
  headers: Record<string, string> = {},
): Promise<UpgradeOutcome> {
  const port = Number(new URL(guard.url).port);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: 'localhost',
      port,
      path,
      ca: guard.ca,
      agent: false,
      timeout: EVENT_TIMEOUT_MS,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('timeout', () => req.destroy(new Error('the guard did not answer the upgrade')));
    req.on('error', reject);
    req.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve({ kind: 'upgraded', status: response.statusCode ?? 0 });
    });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        resolve({
          kind: 'refused',
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end();
  });
}
