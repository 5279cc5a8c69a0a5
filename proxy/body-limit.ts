import type { IncomingMessage } from 'node:http';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { sendContinue } from './expect-continue.ts';
import { BodyIdleError, BodyTooLargeError } from './upstream-errors.ts';

// Most small bodies come with their headers and are parsed right after the
// handler returns, so the choice waits a tick. A body that has fully arrived
// goes to the upstream client as it is: it cannot stall, and its size is
// known. One still arriving streams through limitBody, which leaves the
// request to the server when the forward ends early, so the connection can
// read past the rest of the body and carry on.
export function whenBodyReady(
  req: IncomingMessage,
  maxBytes: number,
  idleMs: number,
  forward: (body: Readable | Buffer) => void,
  refuse: (error: Error) => void,
): void {
  sendContinue(req);
  process.nextTick(() => {
    if (!hasArrived(req)) return forward(limitBody(req, maxBytes, idleMs));
    if (req.readableLength > maxBytes) return refuse(new BodyTooLargeError('body too large'));
    forward(takeArrived(req));
  });
}

// The whole body, out of the request's buffer: the upstream client writes it
// with the head in one go. The request is left flowing so that its end, which
// the parser may report a tick later, lets the connection go on.
function takeArrived(req: IncomingMessage): Buffer {
  const chunks: Buffer[] = [];
  for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read()) {
    chunks.push(chunk);
  }
  req.resume();
  return chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks);
}

// The parser may mark the message complete only on a later tick, but it never
// delivers more than Content-Length: a declared body (without chunked framing)
// is whole once that many bytes wait in the request.
function hasArrived(req: IncomingMessage): boolean {
  if (req.complete) return true;
  const declared = req.headers['content-length'];
  if (declared === undefined || req.headers['transfer-encoding'] !== undefined) return false;
  return req.readableLength >= Number(declared);
}

// Counts the body as it streams to the upstream. Content-Length is checked
// before anything is forwarded; this catches chunked bodies and bodies that
// outgrow their declared length, and a client that stops sending mid-body.
export function limitBody(req: IncomingMessage, maxBytes: number, idleMs: number): Transform {
  let received = 0;
  const timer =
    idleMs > 0 ? setTimeout(() => counter.destroy(new BodyIdleError('body idle')), idleMs) : null;
  timer?.unref();

  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      received += chunk.length;
      if (received > maxBytes) {
        callback(new BodyTooLargeError('body too large'));
        return;
      }
      timer?.refresh();
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      if (timer) clearTimeout(timer);
      callback();
    },
    destroy(error: Error | null, callback: (error: Error | null) => void) {
      if (timer) clearTimeout(timer);
      callback(error);
    },
  });

  req.on('error', (error) => counter.destroy(error));
  req.on('aborted', () => counter.destroy(new Error('client aborted')));
  req.pipe(counter);
  return counter;
}
