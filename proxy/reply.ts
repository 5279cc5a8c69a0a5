import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorCodes } from '../common/errors.ts';
import {
  applySecurityHeaders,
  type HeaderMap,
  type HeaderPlan,
} from '../policies/security-headers.ts';

/** GUARD_NO_CONTENT: a 204 the guard answers itself (a preflight, a CSP report). */
export type ReplyCode = keyof typeof errorCodes | 'GUARD_REDIRECT_HTTPS' | 'GUARD_NO_CONTENT';

export type Reply = {
  status: number;
  code: ReplyCode;
  message?: string;
  headers?: HeaderMap;
};

const redirectMessage = 'this site is served over https';

// The guard's own answers share the app's error shape, {code, message}, so the
// app's UI can show them; they name no internals.
export function replyBody(reply: Reply, requestId: string): string {
  const message = reply.message ?? messageOf(reply.code);
  return JSON.stringify({ code: reply.code, message, requestId });
}

function messageOf(code: ReplyCode): string {
  if (code === 'GUARD_REDIRECT_HTTPS') return redirectMessage;
  if (code === 'GUARD_NO_CONTENT') return '';
  return errorCodes[code];
}

function replyHeaders(reply: Reply, body: string, plan: HeaderPlan, requestId: string) {
  const headers: HeaderMap = {
    ...reply.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  };
  if (reply.status === 204) {
    delete headers['content-type'];
    delete headers['content-length'];
  }
  applySecurityHeaders(headers, plan);
  return headers;
}

export function sendReply(
  res: ServerResponse,
  reply: Reply,
  plan: HeaderPlan,
  requestId: string,
  closeConnection = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = replyBody(reply, requestId);
  const headers = replyHeaders(reply, body, plan, requestId);
  if (closeConnection) {
    headers.connection = 'close';
    res.shouldKeepAlive = false;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.writeHead(reply.status, headers);
  res.end(res.req.method === 'HEAD' || reply.status === 204 ? undefined : body);
}

// For sockets that have no ServerResponse: malformed requests the parser
// refused, and upgrade requests that cannot be carried out.
export function writeRawReply(
  socket: Duplex,
  reply: Reply,
  plan: HeaderPlan,
  requestId: string,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = replyBody(reply, requestId);
  const headers = { ...replyHeaders(reply, body, plan, requestId), connection: 'close' };
  const lines = [`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Error'}`];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${item}`);
  }
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
