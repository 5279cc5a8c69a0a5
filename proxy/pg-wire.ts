// The few pieces of the PostgreSQL wire protocol (protocol 3, "Message
// Formats" in the PostgreSQL manual) the tunnel needs: the requests a client
// sends before its startup message, the server's one-byte answer, an
// ErrorResponse of its own, and where the client's messages begin and end.

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** PostgreSQL refuses longer startup packets (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_BYTES = 10000;
/** The first byte of a TLS record carrying a handshake (a ClientHello). */
export const TLS_HANDSHAKE_BYTE = 0x16;

const TERMINATE = 0x58; // 'X'

export function sslRequest(): Buffer {
  const message = Buffer.alloc(8);
  message.writeInt32BE(8, 0);
  message.writeInt32BE(SSL_REQUEST_CODE, 4);
  return message;
}

// Severity FATAL, SQLSTATE 08006 (connection_failure): libpq, node-postgres
// and the other drivers show the message to the app and give up the attempt.
export function errorResponse(message: string): Buffer {
  const fields = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', '08006'],
    ['M', message],
  ]
    .map(([type, value]) => `${type}${value}\0`)
    .join('');
  const body = Buffer.from(`${fields}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

// Follows the client's message boundaries without copying bodies, so that
// the end of a session can be told apart: a client that sent Terminate ('X')
// closed on purpose; one that closed in the middle of its session vanished.
export class FrontendWatch {
  #skip: number;
  #header = Buffer.alloc(5);
  #headerBytes = 0;
  #lastType = 0;
  #lost = false;

  /** startupBytes: the length of the untyped startup message that comes first. */
  constructor(startupBytes: number) {
    this.#skip = startupBytes;
  }

  push(chunk: Buffer): void {
    let index = 0;
    while (index < chunk.length && !this.#lost) {
      if (this.#skip > 0) {
        const step = Math.min(this.#skip, chunk.length - index);
        this.#skip -= step;
        index += step;
        continue;
      }
      this.#header[this.#headerBytes] = chunk[index] ?? 0;
      this.#headerBytes += 1;
      index += 1;
      if (this.#headerBytes < 5) continue;
      this.#headerBytes = 0;
      this.#lastType = this.#header[0] ?? 0;
      const length = this.#header.readInt32BE(1);
      // The server will refuse such a stream itself; the watch just stops.
      if (length < 4) this.#lost = true;
      this.#skip = length - 4;
    }
  }

  /** True when the last complete message the client sent was Terminate. */
  get terminated(): boolean {
    return (
      !this.#lost && this.#lastType === TERMINATE && this.#skip === 0 && this.#headerBytes === 0
    );
  }
}
