import type { IncomingMessage, ServerResponse } from 'node:http';

// RFC 9110 section 10.1.1: a client that sends `Expect: 100-continue` waits
// for the interim answer before it sends the body. Node sends that answer at
// once unless told otherwise, so a 25 MB upload that a rate limit, a lockout
// or a body limit is about to refuse would be sent in full first. The guard
// answers 100 only when it starts to read the body; a refusal before that
// goes out as the final answer, and the connection closes.
const waiting = new WeakMap<IncomingMessage, ServerResponse>();

/** For the server's checkContinue event: the 100 waits for the body's reader. */
export function holdContinue(req: IncomingMessage, res: ServerResponse): void {
  waiting.set(req, res);
}

/** Called by whatever reads a request body, before it reads. */
export function sendContinue(req: IncomingMessage): void {
  const res = waiting.get(req);
  if (!res) return;
  waiting.delete(req);
  if (!res.headersSent && !res.destroyed) res.writeContinue();
}
