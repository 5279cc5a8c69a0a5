import { Transform, type TransformCallback } from 'node:stream';

// RFC 6455 section 5.5.1: a Close frame with status 1001 "going away", sent
// by the server side, so unmasked.
export const goingAwayFrame = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

// Follows the frame boundaries of the server-to-client stream without
// touching its bytes, so that on shutdown a Close frame can be placed between
// two frames rather than inside one. Control frames may come between the
// fragments of a message (section 5.4), so any frame boundary will do.
export class FrameBoundaryTracker extends Transform {
  #payloadLeft = 0;
  #partialHeader: Buffer = Buffer.alloc(0);
  #closeRequested = false;
  #closed = false;

  /** Emits 'boundary-close' at the next frame boundary; data after it is dropped. */
  requestClose(): void {
    this.#closeRequested = true;
    if (this.#atBoundary()) this.#finish();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    if (this.#closed) return callback();
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - offset);
        this.#payloadLeft -= take;
        offset += take;
        continue;
      }
      if (this.#closeRequested && this.#atBoundary()) break;
      offset = this.#readHeader(chunk, offset);
    }
    this.push(offset === chunk.length ? chunk : chunk.subarray(0, offset));
    if (this.#closeRequested && this.#atBoundary()) this.#finish();
    callback();
  }

  #atBoundary(): boolean {
    return this.#payloadLeft === 0 && this.#partialHeader.length === 0;
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('boundary-close');
  }

  // Consumes header bytes from chunk[offset..]; returns the new offset.
  #readHeader(chunk: Buffer, offset: number): number {
    const available = Buffer.concat([this.#partialHeader, chunk.subarray(offset)]);
    const length = headerLength(available);
    if (length === undefined || available.length < length) {
      this.#partialHeader = Buffer.from(available.subarray(0, 14));
      return chunk.length;
    }
    const consumed = length - this.#partialHeader.length;
    this.#payloadLeft = payloadLength(available);
    this.#partialHeader = Buffer.alloc(0);
    return offset + consumed;
  }
}

function headerLength(bytes: Buffer): number | undefined {
  if (bytes.length < 2) return undefined;
  const second = bytes[1] ?? 0;
  const size = second & 0x7f;
  const extended = size === 126 ? 2 : size === 127 ? 8 : 0;
  const mask = second & 0x80 ? 4 : 0;
  return 2 + extended + mask;
}

function payloadLength(bytes: Buffer): number {
  const size = (bytes[1] ?? 0) & 0x7f;
  if (size === 126) return bytes.readUInt16BE(2);
  if (size === 127) return Number(bytes.readBigUInt64BE(2));
  return size;
}
