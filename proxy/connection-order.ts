import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

// A client may pipeline: send several requests before reading any answer.
// Node parses them all at once and queues the responses in order. The guard
// forwards them one at a time, as a browser would send them: otherwise one
// connection could put thousands of requests in the upstream pool's queue,
// ahead of everyone else. Deeper pipelines than any client needs end the
// connection. What the guard writes straight to the socket (the refusal of a
// request the parser gave up on, the head of an upgrade) waits for the answers
// owed before it, so that a client never reads a 400 as the answer to a
// request the app carried out. Nothing pipelined behind an answer that says
// "Connection: close" reaches the app: its answer would never be sent.

const maxPipelinedRequests = 16;
const newestResponse = new WeakMap<Duplex, ServerResponse>();
const owedCount = new WeakMap<Duplex, number>();

/**
 * Runs `handle` for the request once the answers owed before it are out,
 * at once when none is; never when an earlier answer closes the connection.
 */
export function admitOnConnection(
  req: IncomingMessage,
  res: ServerResponse,
  handle: () => void,
): void {
  const socket = req.socket;
  const previous = newestResponse.get(socket);
  if (socket.destroyed || previous?.shouldKeepAlive === false) return;
  const owed = (owedCount.get(socket) ?? 0) + 1;
  if (owed > maxPipelinedRequests) return void socket.destroy();
  owedCount.set(socket, owed);
  res.once('close', () => owedCount.set(socket, (owedCount.get(socket) ?? 1) - 1));
  newestResponse.set(socket, res);

  if (!previous || previous.writableFinished || previous.destroyed) return handle();
  previous.once('close', () => {
    if (!socket.destroyed && previous.shouldKeepAlive !== false) handle();
  });
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
  return newest?.headersSent === true && !newest.writableFinished;
}
