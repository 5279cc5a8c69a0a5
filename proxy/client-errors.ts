import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { deferBehindOwedResponses, responseUnderway } from './connection-order.ts';
import type { GuardRuntime } from './context.ts';
import { type Reply, writeRawReply } from './reply.ts';

const silent = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_DESTROYED']);
const answered = new WeakSet<Duplex>();

// Requests Node's parser refused (malformed framing, oversize headers, slow
// headers) end here: one well-formed answer, after those still owed to
// requests pipelined before it, then the connection closes. The process and
// every other connection carry on.
export function createClientErrorHandler(runtime: GuardRuntime, overTls: boolean) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    const code = error.code ?? 'unknown';
    runtime.metrics.clientErrors.inc({ reason: code });
    if (silent.has(code) || !socket.writable) {
      socket.destroy();
      return;
    }
    // The parser may report the same broken connection more than once.
    if (answered.has(socket)) return;
    answered.add(socket);
    const reply = replyFor(code);
    const plan = runtime.policies.headers.planFor('/', overTls);
    runtime.logger.debug({ reason: code, status: reply.status }, 'client error');
    const answer = () => writeRawReply(socket, reply, plan, randomUUID());
    if (deferBehindOwedResponses(socket, answer)) return;
    if (responseUnderway(socket)) return void socket.destroy();
    answer();
  };
}

function replyFor(code: string): Reply {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'GUARD_ERR_HEADERS_TOO_LARGE' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') {
    return { status: 408, code: 'GUARD_ERR_REQUEST_TIMEOUT' };
  }
  return { status: 400, code: 'GUARD_ERR_BAD_REQUEST' };
}
