import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as connectTls, type TLSSocket } from 'node:tls';
import { isVerificationError, TunnelFailure } from './db-tunnel-failure.ts';
import { sslRequest } from './pg-wire.ts';

export type ServerTarget = {
  host: string;
  port: number;
  /** The name the certificate must carry (a DNS name or an IP address). */
  serverName: string;
  negotiation: 'postgres' | 'direct';
  ca: Buffer;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  timeoutMs: number;
};

export type ServerAttempt = {
  /** Resolves with a verified TLS connection ready for the client's bytes. */
  ready: Promise<TLSSocket>;
  abort(): void;
};

// Queries are small and latency-bound (Nagle would hold them back), and a
// server that vanishes without a FIN is found by keep-alive probes rather
// than holding the app's connection open for ever.
export const socketOptions = { noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 };

/** PostgreSQL 17 accepts TLS without SSLRequest when the client offers this ALPN. */
export const postgresAlpn = 'postgresql';

// Opens the server side: TCP, then either SSLRequest and its one-byte answer
// or TLS at once (direct), then a handshake verified against the configured CA
// and server name. Anything short of that ends in a TunnelFailure.
export function openServerTls(target: ServerTarget): ServerAttempt {
  let raw: Socket | undefined;
  let secure: TLSSocket | undefined;
  let settled = false;
  let fail: (failure: TunnelFailure) => void = () => undefined;

  const ready = new Promise<TLSSocket>((resolve, reject) => {
    fail = (failure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      secure?.destroy();
      raw?.destroy();
      reject(failure);
    };
    const timer = setTimeout(() => {
      fail(new TunnelFailure('connect_timeout', 'the server did not complete the handshake'));
    }, target.timeoutMs);

    const startTls = (socket: Socket | undefined) => {
      const direct = target.negotiation === 'direct';
      secure = connectTls({
        ...(socket ? { socket } : { host: target.host, port: target.port, ...socketOptions }),
        ca: target.ca,
        cert: target.cert,
        key: target.key,
        minVersion: 'TLSv1.2',
        // SNI carries names only; an IP address is still checked below.
        servername: isIP(target.serverName) ? undefined : target.serverName,
        checkServerIdentity: (_host, certificate) =>
          checkServerIdentity(target.serverName, certificate),
        ALPNProtocols: direct ? [postgresAlpn] : undefined,
      });
      secure.once('secureConnect', () => {
        if (!secure) return;
        // A server that ignores the ALPN offer is not PostgreSQL 17 speaking
        // direct TLS; PostgreSQL itself refuses a client that omits it.
        if (direct && secure.alpnProtocol !== postgresAlpn) {
          return fail(new TunnelFailure('alpn', 'the server did not select ALPN postgresql'));
        }
        settled = true;
        clearTimeout(timer);
        secure.off('error', onTlsError);
        resolve(secure);
      });
      secure.on('error', onTlsError);
    };
    const onTlsError = (error: NodeJS.ErrnoException) => {
      let reason: 'tls_verify' | 'alpn' | 'tls_handshake' = 'tls_handshake';
      if (isVerificationError(error.code)) reason = 'tls_verify';
      else if (error.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') reason = 'alpn';
      fail(new TunnelFailure(reason, error.message, error.code));
    };

    if (target.negotiation === 'direct') {
      startTls(undefined);
      return;
    }
    raw = connectTcp({ host: target.host, port: target.port, ...socketOptions });
    raw.once('connect', () => raw?.write(sslRequest()));
    raw.on('error', (error: NodeJS.ErrnoException) => {
      const detail = `cannot connect to the server (${error.code ?? 'error'})`;
      fail(new TunnelFailure('connect_refused', detail, error.code));
    });
    raw.once('end', () => {
      fail(new TunnelFailure('server_dropped', 'the server closed before answering SSLRequest'));
    });
    raw.on('data', function onAnswer(answer: Buffer) {
      raw?.off('data', onAnswer);
      // Bytes after 'S' would reach the client as if they came over TLS
      // (CVE-2021-23222): the answer must be exactly one byte.
      if (answer.length !== 1) {
        return fail(new TunnelFailure('server_protocol', 'the server sent more than its answer'));
      }
      if (answer[0] === 0x53) return startTls(raw); // 'S'
      if (answer[0] === 0x4e) {
        return fail(new TunnelFailure('server_no_tls', "the server answered 'N' to SSLRequest"));
      }
      fail(new TunnelFailure('server_protocol', 'the server gave no answer to SSLRequest'));
    });
  });

  return {
    ready,
    abort: () => fail(new TunnelFailure('client_gone', 'the client went away')),
  };
}
