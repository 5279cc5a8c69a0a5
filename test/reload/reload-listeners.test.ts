import { readFileSync } from 'node:fs';
import { createServer, type Server, Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReloadOutcome } from '../../proxy/reload.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { connectThroughGuard, roundTripEcho, waitConnected } from '../e2e/socket-helpers.ts';
import { startOnSomePort } from '../support/free-port-retry.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

// Listen addresses change on reload: the new address is bound first, the old
// listener stops accepting and closes once what it carries has finished.

let double: OcommsDouble | undefined;
let guard: TestGuard | undefined;
let blocker: Server | undefined;
const sockets: Socket[] = [];
const listen = { https: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' };

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await guard?.close();
  await double?.close();
  await new Promise((resolve) => (blocker ? blocker.close(resolve) : resolve(undefined)));
  guard = undefined;
  double = undefined;
  blocker = undefined;
});

// Port 0 names no new address, so the test picks a port and lets the bind be
// the check: a port someone else holds makes the reload refuse, and another
// port is tried.
function moveListener(target: TestGuard, changes: (port: number) => Record<string, unknown>) {
  return startOnSomePort(async (port): Promise<ReloadOutcome | 'port-taken'> => {
    target.rewriteConfig({ listen: { ...listen, ...changes(port) } });
    const outcome = await target.guard.reload({ channel: 'admin', requestedBy: 'test' });
    const taken = outcome.status === 'refused' && outcome.code === 'GUARD_ERR_LISTEN';
    return taken ? 'port-taken' : outcome;
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new TcpSocket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

async function pollFalse(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await check())) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

describe('reload with new listen addresses', () => {
  it('binds the new port; the old one stops accepting, finishes its work', async () => {
    double = await startOcommsDouble();
    guard = await startTestGuard(double.url);
    const oldPort = guard.guard.ports.https;
    const socket = connectThroughGuard(guard, { transports: ['websocket'] });
    sockets.push(socket);
    await waitConnected(socket);
    const inFlight = request(`${guard.url}/api/slow?ms=1500`, { dispatcher: guard.agent });
    await new Promise((resolve) => setTimeout(resolve, 300));

    const outcome = await moveListener(guard, (port) => ({ https: `127.0.0.1:${port}` }));

    expect(outcome).toMatchObject({ status: 'applied', changed: ['listen'], listeners: ['https'] });
    const newPort = guard.guard.ports.https;
    expect(newPort).not.toBe(oldPort);
    const fresh = await request(`https://localhost:${newPort}/api/health`, {
      dispatcher: guard.agent,
    });
    expect(fresh.statusCode).toBe(200);
    await fresh.body.text();
    expect(await connects(oldPort)).toBe(false);

    const slow = await inFlight;
    expect(slow.statusCode).toBe(200);
    expect(await slow.body.json()).toEqual({ delayedMs: 1500 });
    expect(await roundTripEcho(socket, 'on the old listener')).toBe('on the old listener');
  });

  it('closes a removed listener; the admin access file follows the admin', async () => {
    double = await startOcommsDouble();
    guard = await startTestGuard(double.url);
    const httpPort = guard.guard.ports.http ?? 0;
    const accessFile = join(guard.dataDir, 'admin-access.json');
    const before = JSON.parse(readFileSync(accessFile, 'utf8')) as { url: string; token: string };
    expect(before.url).toBe(guard.adminUrl);

    const outcome = await moveListener(guard, (port) => ({
      http: false,
      admin: `127.0.0.1:${port}`,
    }));

    expect(outcome).toMatchObject({ status: 'applied', listeners: ['admin', 'http'] });
    expect(guard.guard.ports.http).toBeUndefined();
    expect(await pollFalse(() => connects(httpPort))).toBe(false);
    const after = JSON.parse(readFileSync(accessFile, 'utf8')) as { url: string; token: string };
    expect(after.token).toBe(before.token);
    expect(after.url).toBe(`http://127.0.0.1:${guard.guard.ports.admin}`);
    expect(after.url).not.toBe(before.url);
    expect((await fetch(`${after.url}/healthz`)).status).toBe(200);
  });

  it('on stop, waits for a request still running on a listener a reload replaced', async () => {
    double = await startOcommsDouble();
    const stack = await startTestGuard(double.url, { limits: { shutdownTimeoutMs: 10_000 } });
    guard = stack;
    const inFlight = request(`${stack.url}/api/slow?ms=1500`, { dispatcher: stack.agent });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const moved = await moveListener(stack, (port) => ({ https: `127.0.0.1:${port}` }));
    expect(moved).toMatchObject({ status: 'applied', listeners: ['https'] });

    await stack.guard.close();

    const slow = await inFlight;
    expect(slow.statusCode).toBe(200);
    expect(await slow.body.json()).toEqual({ delayedMs: 1500 });
    const stopped = stack.logs.find((line) => line.msg === 'guard stopped');
    expect(stopped?.outcome).toBe('drained');
  });

  it('refuses a reload whose new address is taken, and keeps serving where it was', async () => {
    double = await startOcommsDouble();
    guard = await startTestGuard(double.url);
    const taken = createServer();
    blocker = taken;
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    guard.rewriteConfig({ listen: { ...listen, https: `127.0.0.1:${takenPort}` } });

    const outcome = await guard.guard.reload({ channel: 'admin', requestedBy: 'test' });

    expect(outcome).toMatchObject({ status: 'refused', code: 'GUARD_ERR_LISTEN' });
    const response = await request(`${guard.url}/api/health`, { dispatcher: guard.agent });
    expect(response.statusCode).toBe(200);
    await response.body.text();
  });
});
