import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Server as SocketServer } from 'socket.io';
import { handleApi } from './app-routes.ts';
import { handleAuth } from './auth-routes.ts';
import {
  createState,
  type DoubleSession,
  type DoubleState,
  type DoubleUser,
  type Exchange,
} from './double-state.ts';
import { sendText } from './http-helpers.ts';
import { serveAsset } from './page-assets.ts';
import { handlePage } from './pages.ts';
import {
  attachRealtime,
  isSocketOriginAllowed,
  isSocketRequest,
  SOCKET_BAD_REQUEST,
} from './realtime.ts';
import { type RecordedRequest, recordRequest, recordUpgrade } from './request-recorder.ts';

export type { DoubleSession, DoubleUser } from './double-state.ts';
export { SEEDED_PASSWORD, SEEDED_TOTP_CODE } from './double-state.ts';
export type { RecordedRequest } from './request-recorder.ts';

export type OcommsDoubleOptions = {
  port?: number;
  host?: string;
  /** BETTER_AUTH_URL; unset, the trusted origin is rebuilt from each request's headers. */
  publicUrl?: string;
  /** Production cookies: `__Secure-` names and the Secure flag. */
  secureCookies?: boolean;
  /** Refuse Socket.IO connections without a session (connect_error "Unauthorized"). */
  requireSocketSession?: boolean;
};

export type OcommsDouble = {
  url: string;
  port: number;
  /** Every HTTP request in arrival order, Socket.IO polls and upgrades included. */
  requests: RecordedRequest[];
  /** Accounts keyed by lower-case email; tests may add or edit them. */
  users: Map<string, DoubleUser>;
  /** Live sessions keyed by token. */
  sessions: Map<string, DoubleSession>;
  /** Makes every later auth request wait this long before its work (0: none). */
  setAuthDelay(ms: number): void;
  close(): Promise<void>;
};

/** Starts a stand-in for the OComms app: one HTTP server, better-auth routes, Socket.IO. */
export async function startOcommsDouble(options: OcommsDoubleOptions = {}): Promise<OcommsDouble> {
  const state = createState(options);
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => void routeRequest(req, res, state));
  const io = attachRealtime(server, state);
  placeRecorderInFront(server, state, requests);

  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    users: state.users,
    sessions: state.sessions,
    setAuthDelay(ms) {
      state.authDelayMs = ms;
    },
    close: () => {
      closing ??= shutDown(server, io);
      return closing;
    },
  };
}

async function routeRequest(req: IncomingMessage, res: ServerResponse, state: DoubleState) {
  const url = parseRequestUrl(req.url ?? '/');
  if (url === undefined) return sendText(res, 400, 'Bad Request\n');
  // Next.js labels every response; the probe route sets its own, duplicated, on purpose.
  if (url.pathname !== '/api/headers-case') {
    res.setHeader('X-Powered-By', 'Next.js');
    res.setHeader('Server', 'OComms-double');
  }

  try {
    await dispatch({ req, res, url, state });
  } catch (error) {
    if (!res.headersSent) return sendText(res, 500, 'Internal Server Error\n');
    res.destroy(error instanceof Error ? error : undefined);
  }
}

function dispatch(exchange: Exchange): void | Promise<void> {
  const path = exchange.url.pathname;
  if (path.startsWith('/_next/')) return serveAsset(exchange);
  if (path === '/favicon.ico') return sendText(exchange.res, 404, 'Not Found\n');
  if (path === '/api/auth' || path.startsWith('/api/auth/')) return handleAuth(exchange);
  if (path === '/api' || path.startsWith('/api/')) return handleApi(exchange);
  return handlePage(exchange);
}

function parseRequestUrl(target: string): URL | undefined {
  try {
    // Prefixing keeps a path such as //evil.example from being read as a host.
    return target.startsWith('/') ? new URL(`http://double.invalid${target}`) : new URL(target);
  } catch {
    return undefined;
  }
}

/**
 * Socket.IO wraps the server's listeners when it attaches; wrapping them once more lets
 * every request be recorded, and a foreign Origin refused, before the engine sees it.
 */
function placeRecorderInFront(server: Server, state: DoubleState, requests: RecordedRequest[]) {
  const onRequest = server.listeners('request');
  const onUpgrade = server.listeners('upgrade');
  server.removeAllListeners('request');
  server.removeAllListeners('upgrade');

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    recordRequest(req, requests);
    if (isSocketRequest(req) && !isSocketOriginAllowed(req, state)) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      return void res.end(SOCKET_BAD_REQUEST);
    }
    for (const listener of onRequest) listener.call(server, req, res);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    recordUpgrade(req, requests);
    if (isSocketRequest(req) && !isSocketOriginAllowed(req, state)) {
      const length = Buffer.byteLength(SOCKET_BAD_REQUEST);
      const head400 = 'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n';
      return void socket.end(`${head400}Content-Length: ${length}\r\n\r\n${SOCKET_BAD_REQUEST}`);
    }
    for (const listener of onUpgrade) listener.call(server, req, socket, head);
  });
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      if (address !== null && typeof address === 'object') return resolve(address.port);
      reject(new Error('ocomms double is not listening on a TCP port'));
    });
  });
}

/** Drops sockets and held long-polls too, so a test never waits out a 25 s poll. */
function shutDown(server: Server, io: SocketServer): Promise<void> {
  io.disconnectSockets(true);
  io.engine.close();
  return new Promise((resolve, reject) => {
    server.close((error) => (error === undefined ? resolve() : reject(error)));
    server.closeAllConnections();
  });
}
