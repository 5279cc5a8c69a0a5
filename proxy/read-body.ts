import type { IncomingMessage } from 'node:http';
import { sendContinue } from './expect-continue.ts';
import type { Reply } from './reply.ts';

export type BodyRead = { ok: true; bytes: Buffer } | { ok: false; reply: Reply | undefined };

const tooLarge: BodyRead = { ok: false, reply: { status: 413, code: 'GUARD_ERR_BODY_TOO_LARGE' } };

// Reads a whole request body into memory, for routes whose body is inspected
// before anything is forwarded. The bound is counted on the bytes that arrive
// (chunked bodies declare no length, and a client may not honour the one it
// declares); a body declared too large is refused unread, before a client
// that waits for 100 Continue sends it. A stall longer than idleMs is
// answered 408; a client that goes away gets no answer (reply undefined).
export function readBody(req: IncomingMessage, maxBytes: number, idleMs: number) {
  if (Number(req.headers['content-length']) > maxBytes) return Promise.resolve(tooLarge);
  sendContinue(req);
  return new Promise<BodyRead>((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (result: BodyRead) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('aborted', onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        req.pause();
        finish(tooLarge);
        return;
      }
      chunks.push(chunk);
      timer.refresh();
    };
    const onEnd = () => finish({ ok: true, bytes: Buffer.concat(chunks, received) });
    const onGone = () => finish({ ok: false, reply: undefined });
    const timer = setTimeout(
      () => {
        req.pause();
        finish({ ok: false, reply: { status: 408, code: 'GUARD_ERR_REQUEST_TIMEOUT' } });
      },
      idleMs > 0 ? idleMs : 2_147_483_647,
    );

    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onGone);
    req.once('aborted', onGone);
  });
}
