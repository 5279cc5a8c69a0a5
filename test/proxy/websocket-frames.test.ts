import { WebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameBoundaryTracker, goingAwayFrame } from '../../proxy/websocket-frames.ts';
import { type OcommsDouble, startOcommsDouble } from '../double/ocomms-double.ts';
import { startTestGuard, type TestGuard } from '../support/guard-harness.ts';

function frame(payloadLength: number, fill = 0x61): Buffer {
  const payload = Buffer.alloc(payloadLength, fill);
  if (payloadLength < 126) return Buffer.concat([Buffer.from([0x81, payloadLength]), payload]);
  if (payloadLength < 65536) {
    const head = Buffer.from([0x82, 126, 0, 0]);
    head.writeUInt16BE(payloadLength, 2);
    return Buffer.concat([head, payload]);
  }
  const head = Buffer.alloc(10);
  head[0] = 0x82;
  head[1] = 127;
  head.writeBigUInt64BE(BigInt(payloadLength), 2);
  return Buffer.concat([head, payload]);
}

// Feeds bytes in the given slices, asks for a close after `closeAfter` bytes,
// and returns what passed through.
async function run(stream: Buffer, slices: number[], closeAfter: number): Promise<Buffer> {
  const tracker = new FrameBoundaryTracker();
  const out: Buffer[] = [];
  tracker.on('data', (chunk: Buffer) => out.push(chunk));
  let closedAt = -1;
  tracker.once('boundary-close', () => {
    closedAt = Buffer.concat(out).length;
  });
  let offset = 0;
  for (const size of slices) {
    if (offset >= closeAfter && closedAt === -1) tracker.requestClose();
    tracker.write(stream.subarray(offset, offset + size));
    offset += size;
    await new Promise((resolve) => setImmediate(resolve));
  }
  tracker.end();
  await new Promise((resolve) => setImmediate(resolve));
  expect(closedAt).toBeGreaterThanOrEqual(0);
  return Buffer.concat(out).subarray(0, closedAt);
}

describe('WebSocket frame boundaries', () => {
  const stream = Buffer.concat([frame(5), frame(300), frame(70000), frame(2)]);
  const ends = [7, 7 + 304, 7 + 304 + 70010, stream.length];

  it('passes bytes through unchanged and stops only at a frame boundary', async () => {
    for (const slices of [
      [8, stream.length - 8],
      [1, 1, 1, 3, 500, 70000, 400],
      [3, 9, 1000, 69999, 320],
    ]) {
      const passed = await run(stream, slices, 8);
      expect(ends).toContain(passed.length);
      expect(passed.equals(stream.subarray(0, passed.length))).toBe(true);
      expect(passed.length).toBeGreaterThan(8);
    }
  });

  it('closes at once when asked at a boundary', async () => {
    const passed = await run(stream, [7, 304, 70010, 4], 7);
    expect(passed.length).toBe(7);
  });

  it('knows the Close frame it sends: status 1001, unmasked', () => {
    expect([...goingAwayFrame]).toEqual([0x88, 0x02, 0x03, 0xe9]);
  });
});

describe('WebSockets on shutdown', () => {
  let app: OcommsDouble | undefined;
  let guard: TestGuard | undefined;
  afterEach(async () => {
    await app?.close();
  });

  it('end with a WebSocket Close frame 1001, not a dropped connection', async () => {
    app = await startOcommsDouble();
    guard = await startTestGuard(app.url);
    const url = `wss://localhost:${guard.guard.ports.https}/socket.io/?EIO=4&transport=websocket`;
    const socket = new WebSocket(url, { dispatcher: guard.agent });
    const messages: string[] = [];
    socket.addEventListener('message', (event) => messages.push(String(event.data)));
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve);
      socket.addEventListener('error', reject);
    });
    const closed = new Promise<{ code: number; wasClean: boolean }>((resolve) => {
      socket.addEventListener('close', (event) => resolve(event));
    });
    while (messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(messages[0]).toMatch(/^0\{/);

    const stopping = guard.guard.close();
    const event = await closed;
    expect(event.code).toBe(1001);
    expect(event.wasClean).toBe(true);
    await stopping;
    await guard.agent.close();
  });
});
