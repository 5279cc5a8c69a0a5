// Over TLS, PostgreSQL offers SCRAM-SHA-256-PLUS (SCRAM bound to the TLS
// channel, RFC 5929 tls-server-end-point) next to SCRAM-SHA-256. Through the
// tunnel the client's own connection is plaintext, so it has no channel to
// bind to: libpq takes the offer over plaintext for a downgrade attack and
// refuses to log in at all. The tunnel therefore removes the -PLUS mechanism
// from the server's first authentication request, leaving exactly the offer a
// server makes without TLS; node-postgres and others then pick plain SCRAM as
// they would anyway. Nothing else is changed, and the filter only looks at
// the messages before that first authentication request.

const AUTHENTICATION = 0x52; // 'R'
const NEGOTIATE_PROTOCOL_VERSION = 0x76; // 'v'
const NOTICE = 0x4e; // 'N'
const SASL = 10;
const CHANNEL_BINDING_MECHANISM = 'SCRAM-SHA-256-PLUS';
/** Larger first messages are not what PostgreSQL sends here; they pass untouched. */
const maxHeldBytes = 64 * 1024;

export class SaslOfferFilter {
  #held: Buffer = Buffer.alloc(0);
  #done = false;

  /** True once the first authentication request has passed: relay bytes as they come. */
  get done(): boolean {
    return this.#done;
  }

  /** Returns what may go to the client now. */
  push(chunk: Buffer): Buffer {
    if (this.#done) return chunk;
    this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    const out: Buffer[] = [];
    let offset = 0;
    while (!this.#done) {
      if (this.#held.length - offset < 5) break;
      const type = this.#held[offset];
      const end = offset + 1 + this.#held.readInt32BE(offset + 1);
      if (end - offset > maxHeldBytes || end < offset + 5) {
        this.#done = true;
        break;
      }
      if (this.#held.length < end) break;
      const message = this.#held.subarray(offset, end);
      offset = end;
      if (type === NEGOTIATE_PROTOCOL_VERSION || type === NOTICE) {
        out.push(message);
        continue;
      }
      // The first message of any other kind ends the filter's work.
      this.#done = true;
      out.push(type === AUTHENTICATION ? withoutChannelBinding(message) : message);
    }
    const rest = this.#held.subarray(offset);
    if (this.#done) {
      out.push(rest);
      this.#held = Buffer.alloc(0);
    } else this.#held = rest;
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }
}

function withoutChannelBinding(message: Buffer): Buffer {
  if (message.length < 9 || message.readInt32BE(5) !== SASL) return message;
  const names = message
    .subarray(9)
    .toString('utf8')
    .split('\0')
    .filter((name) => name !== '');
  const kept = names.filter((name) => name !== CHANNEL_BINDING_MECHANISM);
  if (kept.length === names.length || kept.length === 0) return message;
  const body = Buffer.from(`${kept.join('\0')}\0\0`, 'utf8');
  const header = Buffer.alloc(9);
  header[0] = AUTHENTICATION;
  header.writeInt32BE(body.length + 8, 1);
  header.writeInt32BE(SASL, 5);
  return Buffer.concat([header, body]);
}
