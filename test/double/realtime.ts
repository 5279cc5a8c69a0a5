import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server as SocketServer } from 'socket.io';
import { findSession } from './double-sessions.ts';
import type { DoubleState } from './double-state.ts';
import { requestOrigin } from './http-helpers.ts';

export const SOCKET_PATH = '/socket.io/';

// The app's engine settings: a ping every 25 s, long-polls held about as long.
const PING_INTERVAL_MS = 25_000;
const PING_TIMEOUT_MS = 20_000;

/** Socket.IO on the same HTTP server, serving its own browser client. */
export function attachRealtime(server: HttpServer, state: DoubleState): SocketServer {
  const io = new SocketServer(server, {
    path: SOCKET_PATH,
    serveClient: true,
    pingInterval: PING_INTERVAL_MS,
    pingTimeout: PING_TIMEOUT_MS,
    transports: ['polling', 'websocket'],
  });

  // Authentication failures travel inside the protocol (connect_error), never as HTTP 401.
  io.use((socket, next) => {
    const signedIn = findSession(state, socket.request.headers);
    if (state.requireSocketSession && signedIn === undefined)
      return next(new Error('Unauthorized'));
    next();
  });

  io.on('connection', (socket) => {
    const userId = findSession(state, socket.request.headers)?.user.id ?? null;
    socket.emit('hello', { id: socket.id, userId });
    socket.on('echo', (payload: unknown) => socket.emit('echo', payload));
    socket.on('ping-ack', (...args: unknown[]) => {
      const ack = args.at(-1);
      if (typeof ack !== 'function') return;
      ack({ pong: true, payload: args.length > 1 ? args[0] : null, at: Date.now() });
    });
  });
  return io;
}

export function isSocketRequest(req: IncomingMessage): boolean {
  return (req.url ?? '').startsWith(SOCKET_PATH);
}

/**
 * Browsers always send Origin on Socket.IO requests; a foreign one is refused with HTTP
 * 400 before the engine sees it. Non-browser clients send none and are let through.
 */
export function isSocketOriginAllowed(req: IncomingMessage, state: DoubleState): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return origin === (state.publicUrl ?? requestOrigin(req.headers));
}

/** The engine's own "Bad request" body, so the refusal looks like the app's. */
export const SOCKET_BAD_REQUEST = JSON.stringify({ code: 3, message: 'Bad request' });
