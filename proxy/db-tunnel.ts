import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SecurityEvents } from '../audit/security-events.ts';
import { GuardError } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import { readTlsMaterial } from '../common/tls-material.ts';
import { type DbTunnelConfig, isLoopbackHost, parseDbTarget } from '../config/db-tunnel-schema.ts';
import { parseListenAddress } from '../config/units.ts';
import { readClientPrelude } from './db-tunnel-client.ts';
import { clientMessages, isTunnelFailure, TunnelFailure } from './db-tunnel-failure.ts';
import type { DbTunnelMetrics } from './db-tunnel-metrics.ts';
import { openServerTls, type ServerTarget, socketOptions } from './db-tunnel-server.ts';
import { listenOn } from './listen.ts';
import { SaslOfferFilter } from './pg-sasl-offer.ts';
import { errorResponse, FrontendWatch } from './pg-wire.ts';

export type DbTunnel = {
  readonly port: number;
  /** Stops accepting and cuts every tunnelled connection. */
  close(): Promise<void>;
};

type Pair = { client: Socket; server: TLSSocket | undefined };

// A local stunnel for the app's PostgreSQL connection: the app connects in
// plaintext on loopback, the guard carries each connection to the server over
// TLS verified against the configured CA and name. Each connection is its own
// pair of sockets; a failure ends that pair and nothing else.
export async function startDbTunnel(
  config: DbTunnelConfig,
  metrics: DbTunnelMetrics,
  logger: Logger,
  events: SecurityEvents,
): Promise<DbTunnel> {
  const target = serverTarget(config);
  const pairs = new Set<Pair>();
  let nextId = 0;

  const server = createServer(socketOptions, (client) => {
    nextId += 1;
    const pair: Pair = { client, server: undefined };
    pairs.add(pair);
    metrics.connections.inc();
    metrics.open.inc();
    client.once('close', () => {
      pairs.delete(pair);
      metrics.open.dec();
    });
    const log = logger.child({ conn: nextId, clientPort: client.remotePort });
    handleConnection(pair, target, metrics, log, events).catch((error: unknown) => {
      client.destroy();
      pair.server?.destroy();
      log.error({ detail: (error as Error).message }, 'db tunnel connection error');
    });
  });
  server.maxConnections = config.maxConnections;
  server.on('drop', () => {
    metrics.failures.inc({ reason: 'limit' });
    logger.warn({ reason: 'limit', code: 'GUARD_ERR_DB_TUNNEL_LIMIT' }, 'db tunnel refused');
  });

  const port = await listenOn(server, config.listen, 'dbTunnel.listen');
  if (config.allowNonLoopback && !isLoopbackHost(parseListenAddress(config.listen)?.host)) {
    logger.warn({ listen: config.listen }, 'db tunnel is reachable beyond loopback');
  }
  logger.info(
    { port, target: `${target.host}:${target.port}`, serverName: target.serverName },
    'db tunnel listening',
  );
  return { port, close: () => closeTunnel(server, pairs) };
}

function serverTarget(config: DbTunnelConfig): ServerTarget {
  const parsed = parseDbTarget(config.target);
  if (!parsed) throw new GuardError('GUARD_ERR_CONFIG_INVALID', 'dbTunnel.target is invalid');
  return {
    ...parsed,
    serverName: config.serverName ?? parsed.host,
    negotiation: config.negotiation,
    ca: readTlsMaterial(config.tls.ca, 'dbTunnel.tls.ca'),
    cert: config.tls.cert ? readTlsMaterial(config.tls.cert, 'dbTunnel.tls.cert') : undefined,
    key: config.tls.key ? readTlsMaterial(config.tls.key, 'dbTunnel.tls.key') : undefined,
    timeoutMs: config.connectTimeoutMs,
  };
}

async function handleConnection(
  pair: Pair,
  target: ServerTarget,
  metrics: DbTunnelMetrics,
  log: Logger,
  events: SecurityEvents,
): Promise<void> {
  const { client } = pair;
  const started = Date.now();
  // Errors are handled where they matter; this keeps a late one from
  // becoming an uncaught exception that would stop the whole guard.
  client.on('error', () => undefined);
  const fail = (failure: TunnelFailure, extra: Record<string, unknown> = {}) => {
    metrics.failures.inc({ reason: failure.reason });
    const fields = { reason: failure.reason, code: failure.code, cause: failure.causeCode };
    log.warn({ ...fields, detail: failure.message, ...extra }, 'db tunnel connection failed');
  };

  // The server side is opened while the client is still negotiating, so the
  // app waits for one handshake instead of two in a row.
  const attempt = openServerTls(target);
  const preludeRead = readClientPrelude(client, target.timeoutMs);
  preludeRead.catch(() => attempt.abort());
  const [prelude, secure] = await Promise.allSettled([preludeRead, attempt.ready]);

  if (prelude.status === 'rejected') {
    if (secure.status === 'fulfilled') secure.value.destroy();
    client.destroy();
    return fail(asFailure(prelude.reason));
  }
  if (secure.status === 'rejected') {
    const failure = asFailure(secure.reason);
    reportServerRejected(events, failure, target);
    // The client waits for the server's first answer, so it can be told why
    // in the protocol's own terms: drivers show it to the app.
    if (prelude.value.kind === 'startup') {
      const message = `ocomms-guard ${failure.code}: ${clientMessages[failure.code]}`;
      client.end(errorResponse(message));
      setTimeout(() => client.destroy(), 5000).unref();
    } else client.destroy();
    return fail(failure);
  }
  if (client.destroyed) {
    secure.value.destroy();
    return fail(new TunnelFailure('client_gone', 'the client went away during the handshake'));
  }

  pair.server = secure.value;
  log.debug(
    { protocol: secure.value.getProtocol(), setupMs: Date.now() - started },
    'db tunnel connection established',
  );
  relay(client, secure.value, prelude.value, metrics, log, fail, started);
}

// A server that fails verification or will not do TLS may be an attacker in
// the path, not only a misconfiguration: the audit trail hears of it.
const rejectedReasons = new Set(['tls_verify', 'server_no_tls', 'server_protocol', 'alpn']);

function reportServerRejected(
  events: SecurityEvents,
  failure: TunnelFailure,
  target: ServerTarget,
): void {
  if (!rejectedReasons.has(failure.reason)) return;
  events.emit({
    type: 'db_tunnel.server_rejected',
    outcome: 'denied',
    details: {
      reason: failure.reason,
      code: failure.code,
      cause: failure.causeCode ?? null,
      server: `${target.host}:${target.port}`,
      serverName: target.serverName,
    },
  });
}

function asFailure(reason: unknown): TunnelFailure {
  if (isTunnelFailure(reason)) return reason;
  const detail = reason instanceof Error ? reason.message : 'unknown failure';
  return new TunnelFailure('server_dropped', detail);
}

function relay(
  client: Socket,
  server: TLSSocket,
  prelude: { kind: 'startup' | 'cancel'; firstMessageBytes: number; held: Buffer },
  metrics: DbTunnelMetrics,
  log: Logger,
  fail: (failure: TunnelFailure, extra: Record<string, unknown>) => void,
  started: number,
): void {
  const watch = new FrontendWatch(prelude.firstMessageBytes);
  const counted = { toServer: 0, toClient: 0 };
  let ended = false;
  // The first side to end decides how the pair ended; the other side is ended
  // in turn (its pending bytes flushed, a stuck peer cut after a grace period).
  const finish = (side: 'client' | 'server', error?: NodeJS.ErrnoException) => {
    if (ended) return;
    ended = true;
    const other = side === 'client' ? server : client;
    if (error) other.destroy();
    else other.end();
    setTimeout(() => other.destroy(), 5000).unref();

    const orderly = prelude.kind === 'cancel' || watch.terminated;
    const summary = { ...counted, durationMs: Date.now() - started, closedBy: side };
    if (orderly) return log.debug(summary, 'db tunnel connection closed');
    const reason = side === 'client' ? 'client_gone' : 'server_dropped';
    const detail = error ? error.message : `the ${side} closed mid-session`;
    fail(new TunnelFailure(reason, detail, error?.code), summary);
  };

  client.on('data', (chunk: Buffer) => {
    watch.push(chunk);
    counted.toServer += chunk.length;
    metrics.addBytesToServer(chunk.length);
  });
  // Until the server's first authentication request has passed, its bytes go
  // through the SASL offer filter; after that, straight through.
  const offer = prelude.kind === 'startup' ? new SaslOfferFilter() : undefined;
  server.on('data', function forward(chunk: Buffer) {
    counted.toClient += chunk.length;
    metrics.addBytesToClient(chunk.length);
    if (!offer || offer.done) return;
    const out = offer.push(chunk);
    if (out.length > 0) client.write(out);
    if (offer.done) server.pipe(client, { end: false });
  });
  client.on('error', (error) => finish('client', error));
  server.on('error', (error) => finish('server', error));
  client.on('end', () => finish('client'));
  server.on('end', () => finish('server'));
  client.on('close', () => finish('client'));
  server.on('close', () => finish('server'));

  watch.push(prelude.held);
  counted.toServer += prelude.held.length;
  metrics.addBytesToServer(prelude.held.length);
  server.write(prelude.held);
  client.pipe(server, { end: false });
  if (!offer) server.pipe(client, { end: false });
}

async function closeTunnel(server: Server, pairs: Set<Pair>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const pair of pairs) {
    pair.server?.destroy();
    pair.client.destroy();
  }
  await closed;
}
