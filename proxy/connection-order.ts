import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

// A client may pipeline: send several requests before reading any answer.
// Node queues the responses in order, but what the guard writes straight to
// the socket (the refusal of a request the parser gave up on, the head of an
// upgrade) would overtake answers still owed, and a client would read a 400
// as the answer to an earlier request the app did carry out. And once an
// answer says "Connection: close", requests pipelined behind it must not reach
// the app: their answers would never be sent.

const newestResponse = new WeakMap<Duplex, ServerResponse>();

/** Records the request's response; false when an earlier answer closes the connection. */
export function admitOnConnection(req: IncomingMessage, res: ServerResponse): boolean {
  if (closesConnection(req.socket)) return false;
  newestResponse.set(req.socket, res);
  return true;
}

/** True when an answer already given or owed on this connection closes it. */
export function closesConnection(socket: Duplex): boolean {
  return newestResponse.get(socket)?.shouldKeepAlive === false;
}

/**
 * When answers are still owed to requests received in full, runs `then` once
 * they have all been written and returns true; otherwise returns false and
 * leaves `then` uncalled, for the caller to go on at once. A request whose
 * body is still arriving is the one a parse error belongs to: no waiting.
 */
export function deferBehindOwedResponses(socket: Duplex, then: () => void): boolean {
  const newest = newestResponse.get(socket);
  if (!newest || newest.writableFinished || newest.destroyed || !newest.req.complete) return false;
  newest.once('close', then);
  return true;
}

/** True when an answer has begun and not ended: nothing else may be written. */
export function responseUnderway(socket: Duplex): boolean {
  const newest = newestResponse.get(socket);
  return newest !== undefined && newest.headersSent && !newest.writableFinished;
}
