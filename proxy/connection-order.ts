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

type Pipeline = {
  /** The response to the latest request admitted on the connection. */
  newest: ServerResponse | undefined;
  /** Responses admitted and not yet closed. */
  owed: number;
};
const pipelines = new WeakMap<Duplex, Pipeline>();

/**
 * Runs `handle` for the request once the answers owed before it are out,
 * at once when none is; never when an earlier answer closes the connection.
 * `closed` runs when the response of an admitted request closes.
 */
export function admitOnConnection(
  req: IncomingMessage,
  res: ServerResponse,
  handle: () => void,
  closed: () => void,
): void {
  const socket = req.socket;
  let pipeline = pipelines.get(socket);
  if (!pipeline) {
    pipeline = { newest: undefined, owed: 0 };
    pipelines.set(socket, pipeline);
  }
  const previous = pipeline.newest;
  if (socket.destroyed || previous?.shouldKeepAlive === false) return;
  if (pipeline.owed >= maxPipelinedRequests) return void socket.destroy();
  pipeline.owed += 1;
  settleOnClose(res, pipeline, closed);
  pipeline.newest = res;

  if (!previous || previous.writableFinished || previous.destroyed) return handle();
  previous.once('close', () => {
    if (!socket.destroyed && previous.shouldKeepAlive !== false) handle();
  });
}

// In a function of its own, so that the listener, which stays on the response,
// holds nothing of the request before it: a keep-alive connection would
// otherwise keep every response it ever carried.
function settleOnClose(res: ServerResponse, pipeline: Pipeline, closed: () => void): void {
  res.on('close', () => {
    pipeline.owed -= 1;
    closed();
  });
}

/** True when an answer already given or owed on this connection closes it. */
export function closesConnection(socket: Duplex): boolean {
  return pipelines.get(socket)?.newest?.shouldKeepAlive === false;
}

/**
 * When answers are still owed to requests received in full, runs `then` once
 * they have all been written and returns true; otherwise returns false and
 * leaves `then` uncalled, for the caller to go on at once. A request whose
 * body is still arriving is the one a parse error belongs to: no waiting.
 */
export function deferBehindOwedResponses(socket: Duplex, then: () => void): boolean {
  const newest = pipelines.get(socket)?.newest;
  if (!newest || newest.writableFinished || newest.destroyed || !newest.req.complete) return false;
  newest.once('close', then);
  return true;
}

/** True when an answer has begun and not ended: nothing else may be written. */
export function responseUnderway(socket: Duplex): boolean {
  const newest = pipelines.get(socket)?.newest;
  return newest?.headersSent === true && !newest.writableFinished;
}
