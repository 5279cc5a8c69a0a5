import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { admitOnConnection } from '../../proxy/connection-order.ts';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

// Stand-ins with just what the ordering reads: a socket, and per request a
// response that finishes and closes as Node's would.
function exchangeOn(socket: EventEmitter & { destroyed: boolean }) {
  const res = Object.assign(new EventEmitter(), {
    shouldKeepAlive: true,
    writableFinished: false,
    destroyed: false,
  });
  const req = { socket } as unknown as IncomingMessage;
  return { req, res };
}

function serveOne(socket: EventEmitter & { destroyed: boolean }): WeakRef<object> {
  const { req, res } = exchangeOn(socket);
  let handled = false;
  admitOnConnection(
    req,
    res as unknown as ServerResponse,
    () => {
      handled = true;
    },
    () => undefined,
  );
  expect(handled).toBe(true);
  res.writableFinished = true;
  res.emit('close');
  return new WeakRef(res);
}

describe('connection order', () => {
  it('keeps nothing of the answers a keep-alive connection has finished', async () => {
    const socket = Object.assign(new EventEmitter(), { destroyed: false });
    const first = serveOne(socket);
    for (let count = 0; count < 200; count += 1) serveOne(socket);
    // Let finalisation run, then collect for real.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(first.deref()).toBeUndefined();
  });
});
