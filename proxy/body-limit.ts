import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { BodyIdleError, BodyTooLargeError } from './upstream-errors.ts';

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
