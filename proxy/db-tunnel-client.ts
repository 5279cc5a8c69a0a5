import type { Socket } from 'node:net';
import { TunnelFailure } from './db-tunnel-failure.ts';
import {
  CANCEL_REQUEST_CODE,
  GSSENC_REQUEST_CODE,
  MAX_STARTUP_BYTES,
  SSL_REQUEST_CODE,
  TLS_HANDSHAKE_BYTE,
} from './pg-wire.ts';

export type ClientPrelude = {
  /** A startup message opens a session; a cancel request only stops another one. */
  kind: 'startup' | 'cancel';
  /** Length of that first message, which is still at the start of `held`. */
  firstMessageBytes: number;
  /** What the client sent after its negotiation requests, to be relayed first. */
  held: Buffer;
};

// A client asks for TLS (SSLRequest) or GSS encryption (GSSENCRequest) before
// its startup message. On the plaintext loopback side the tunnel declines both
// with 'N', as a server without them would, so libpq in its default
// sslmode=prefer carries on in plaintext; the TLS that matters is the guard's
// own, towards the server. One of each is all a client ever needs.
const maxNegotiations = 2;

/**
 * Reads the client's first message, answering negotiation requests on the
 * way, and leaves the client paused with what it sent held. Rejects with a
 * TunnelFailure when the client speaks TLS or nonsense, is too slow, or goes.
 */
export function readClientPrelude(client: Socket, timeoutMs: number): Promise<ClientPrelude> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    let negotiations = 0;
    const done = (outcome: ClientPrelude | TunnelFailure) => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onGone);
      client.off('error', onGone);
      if (outcome instanceof TunnelFailure) reject(outcome);
      else {
        client.pause();
        resolve(outcome);
      }
    };
    const timer = setTimeout(() => {
      done(new TunnelFailure('client_timeout', 'no startup message in time'));
    }, timeoutMs);
    const onGone = (error?: NodeJS.ErrnoException) => {
      const detail = 'the client went away before its startup message';
      done(new TunnelFailure('client_gone', detail, error?.code));
    };

    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length > 0) {
        // A client that opens with TLS right away (direct negotiation) cannot
        // be served in plaintext; the tunnel does not terminate TLS.
        if (buffered[0] === TLS_HANDSHAKE_BYTE) {
          return done(new TunnelFailure('client_tls', 'the client started TLS on the plain side'));
        }
        if (buffered.length < 8) return;
        const length = buffered.readInt32BE(0);
        const code = buffered.readInt32BE(4);
        if (length < 8 || length > MAX_STARTUP_BYTES) {
          return done(new TunnelFailure('client_protocol', 'the first message has a bad length'));
        }
        if (length !== 8 || (code !== SSL_REQUEST_CODE && code !== GSSENC_REQUEST_CODE)) {
          const kind = code === CANCEL_REQUEST_CODE ? 'cancel' : 'startup';
          return done({ kind, firstMessageBytes: length, held: buffered });
        }
        negotiations += 1;
        if (negotiations > maxNegotiations) {
          return done(new TunnelFailure('client_protocol', 'too many negotiation requests'));
        }
        client.write('N');
        buffered = buffered.subarray(8);
      }
    };
    client.on('data', onData);
    client.once('end', onGone);
    client.once('error', onGone);
  });
}
