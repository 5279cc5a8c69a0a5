import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import {
  applySecurityHeaders,
  type HeaderMap,
  type HeaderPlan,
} from '../policies/security-headers.ts';
import { type Arrival, receive, refusalFor } from './arrival.ts';
import { checkBeforeForward, needsCheck, whenChecked } from './before-forward.ts';
import { closesConnection, deferBehindOwedResponses } from './connection-order.ts';
import type { GuardRuntime } from './context.ts';
import { hopByHop } from './hop-by-hop.ts';
import { type Reply, writeRawReply } from './reply.ts';
import { buildUpstreamHeaders } from './request-headers.ts';
import { type RecordedExchange, recordExchange, routeOf } from './request-record.ts';
import { FrameBoundaryTracker, goingAwayFrame } from './websocket-frames.ts';

const keepForUpgrade: ReadonlySet<string> = new Set(['upgrade', 'connection']);

/** Each relayed connection, to end gracefully on shutdown or cut at the deadline. */
export type RelayedConnection = { closeGracefully(): void; destroy(): void };
export type UpgradeTracker = { readonly connections: Set<RelayedConnection> };

// WebSocket (and any other Upgrade) requests: the handshake goes through the
// same checks as a request, then the two sockets are joined byte for byte.
// Idle timeouts are off for joined sockets: Socket.IO's own pings keep them
// honest, and a chat client may stay quiet for hours.
export function createUpgradeHandler(runtime: GuardRuntime, tracker: UpgradeTracker) {
  return function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    // Answers owed to requests pipelined before this one go out first; after
    // one that closes the connection, Node ends it and nothing more is done.
    if (closesConnection(socket)) return;
    const resume = () => {
      if (!socket.destroyed) handleUpgrade(req, socket, head);
    };
    if (deferBehindOwedResponses(socket, resume)) return;
    const arrival = receive(runtime, req, true);
    const { requestId, plan, policies } = arrival;
    const route = routeOf(arrival, req.method);
    const handshake: Handshake = {
      requestId,
      startedAt: performance.now(),
      upstreamMs: undefined,
      route,
      clientIp: arrival.client.ip,
      path: route.loggedPath ?? arrival.rawPath,
      done: (status) => recordExchange(runtime, 'https', req.method, handshake, status),
    };
    const refuse = (reply: Reply) => {
      if (socket.destroyed) return drop();
      handshake.done(reply.status);
      writeRawReply(socket, reply, plan, requestId);
    };
    const drop = () => {
      handshake.done(499);
      socket.destroy();
    };

    if (runtime.closing) return refuse({ status: 503, code: 'GUARD_ERR_SHUTTING_DOWN' });
    const refusal = refusalFor(req, arrival) ?? upgradeRefusal(req);
    if (refusal) return refuse(refusal);

    // An upgrade carries no body the guard could inspect.
    if (route.body) return refuse(badUpgrade);
    if (arrival.path !== undefined && needsCheck(policies, req, arrival.path, route)) {
      return whenChecked(
        () => checkBeforeForward(runtime, req, arrival, route, true),
        (checked) => {
          if (checked.reply) return refuse(checked.reply);
          if ('gone' in checked) return drop();
          connectUpstream(runtime, tracker, req, socket, head, arrival, handshake);
        },
        drop,
      );
    }
    connectUpstream(runtime, tracker, req, socket, head, arrival, handshake);
  };
}

/** A handshake on its way: recorded once, when its answer is known. */
type Handshake = RecordedExchange & {
  upstreamMs: number | undefined;
  done(status: number): void;
};

const badUpgrade: Reply = {
  status: 400,
  code: 'GUARD_ERR_BAD_REQUEST',
  message: 'no upgrade here',
};

function connectUpstream(
  runtime: GuardRuntime,
  tracker: UpgradeTracker,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  arrival: Arrival,
  handshake: Handshake,
): void {
  const { requestId, plan, policies, client } = arrival;
  // A client gone during the check is not worth a connection to the app.
  if (socket.destroyed) return handshake.done(499);
  const drop = policies.dropRequestHeaders;
  const context = { client, requestId, proto: 'https', drop } as const;
  const headers = buildUpstreamHeaders(req, context, keepForUpgrade);
  const origin = runtime.upstream.origin;
  const send = origin.protocol === 'https:' ? httpsRequest : httpRequest;
  let upstreamReq: ClientRequest;
  try {
    upstreamReq = send({
      host: origin.hostname,
      port: origin.port || (origin.protocol === 'https:' ? 443 : 80),
      method: req.method,
      path: req.url,
      headers,
      setHost: false,
      agent: false,
      timeout: policies.config.upstream.connectTimeoutMs,
    });
  } catch {
    // Node checks the outgoing head again and throws on what it refuses;
    // a throw here would otherwise stop the whole process.
    const reply: Reply = { status: 400, code: 'GUARD_ERR_BAD_REQUEST' };
    handshake.done(reply.status);
    return writeRawReply(socket, reply, plan, requestId);
  }
  // An app that took the connection and then broke it was reached: that is
  // an upstream failure, not an unreachable upstream.
  let connected = false;
  upstreamReq.once('socket', (upstreamSocket) => {
    upstreamSocket.once('connect', () => {
      connected = true;
    });
  });
  upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('connect timeout')));
  // A client that leaves before the app answers takes the handshake with it:
  // a 101 then would join a live socket of the app's to a dead one, for good.
  const clientGone = () => upstreamReq.destroy(new ClientGoneError());
  socket.once('close', clientGone);
  let answered = false;
  const answer = (status: number) => {
    answered = true;
    socket.off('close', clientGone);
    handshake.upstreamMs = performance.now() - handshake.startedAt;
    handshake.done(status);
  };
  upstreamReq.on('error', (error) => {
    if (answered) return void socket.destroy();
    if (error instanceof ClientGoneError) return handshake.done(499);
    runtime.metrics.upstreamErrors.inc({ reason: 'upgrade' });
    const code = connected ? 'GUARD_ERR_UPSTREAM_FAILED' : 'GUARD_ERR_UPSTREAM_UNREACHABLE';
    handshake.done(502);
    writeRawReply(socket, { status: 502, code }, plan, requestId);
  });
  upstreamReq.on('response', (response) => {
    answer(response.statusCode ?? 502);
    relayRefusal(response, socket, plan, requestId);
  });
  upstreamReq.on('upgrade', (response, upstreamSocket, upstreamHead) => {
    answer(101);
    upstreamReq.setTimeout(0);
    const responseHeaders = { ...response.headers, 'x-request-id': requestId } as HeaderMap;
    applySecurityHeaders(responseHeaders, plan);
    socket.write(statusBlock(response, responseHeaders, true));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    const websocket = String(response.headers.upgrade).toLowerCase() === 'websocket';
    join(runtime, tracker, socket, upstreamSocket, websocket);
  });
  upstreamReq.end();
}

function join(
  runtime: GuardRuntime,
  tracker: UpgradeTracker,
  client: Duplex,
  upstream: Socket,
  websocket: boolean,
) {
  for (const side of [client as Socket, upstream]) {
    side.setTimeout?.(0);
    side.setNoDelay?.(true);
    side.setKeepAlive?.(true, 30_000);
  }
  runtime.metrics.websocketsOpen.inc();
  runtime.metrics.websocketsTotal.inc();

  // For WebSockets a Close frame is placed between two server frames; the
  // client answers with its own, which reaches the app through the still
  // open client-to-app direction, so both ends see a clean close.
  const frames = websocket ? new FrameBoundaryTracker() : undefined;
  const closeGracefully = () => {
    if (!frames) return void client.end();
    frames.once('boundary-close', () => client.end(goingAwayFrame));
    frames.requestClose();
  };
  const relayed: RelayedConnection = { closeGracefully, destroy: () => close() };
  tracker.connections.add(relayed);

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    tracker.connections.delete(relayed);
    runtime.metrics.websocketsOpen.dec();
    client.destroy();
    upstream.destroy();
  };
  for (const side of [client, upstream]) {
    side.on('close', close);
    side.on('error', close);
  }
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.pipe(upstream, { end: false });
  if (frames) upstream.pipe(frames).pipe(client, { end: false });
  else upstream.pipe(client, { end: false });
}

// Only WebSocket handshakes, a GET without a body (RFC 6455 section 4.1), are
// relayed. After any other 101, h2c above all, the client would talk to the
// app over a raw pipe, past every check the guard makes on requests.
function upgradeRefusal(req: IncomingMessage): Reply | undefined {
  const protocol = String(req.headers.upgrade ?? '')
    .trim()
    .toLowerCase();
  const length = req.headers['content-length'];
  const hasBody =
    (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (protocol === 'websocket' && req.method === 'GET' && !hasBody) return undefined;
  return { status: 400, code: 'GUARD_ERR_BAD_REQUEST', message: 'only WebSocket upgrades' };
}

// The upstream declined the upgrade (Socket.IO answers 400 to a foreign
// Origin): pass its answer on with the guard's headers and close, as the
// client cannot reuse the socket. An answer the app breaks off stays cut.
function relayRefusal(
  response: IncomingMessage,
  socket: Duplex,
  plan: HeaderPlan,
  requestId: string,
): void {
  const headers = { ...response.headers, 'x-request-id': requestId } as HeaderMap;
  applySecurityHeaders(headers, plan);
  headers.connection = 'close';
  socket.write(statusBlock(response, headers, false));
  response.pipe(socket);
  response.once('close', () => {
    if (!response.complete) socket.destroy();
  });
}

function statusBlock(response: IncomingMessage, headers: HeaderMap, upgrade: boolean): string {
  const lines = [`HTTP/1.1 ${response.statusCode} ${response.statusMessage ?? ''}`];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (!upgrade && hopByHop.has(name) && name !== 'connection') continue;
    for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${item}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

class ClientGoneError extends Error {
  constructor() {
    super('the client went away before the app answered');
  }
}
