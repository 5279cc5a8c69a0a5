import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { listCodings } from '../common/answer-json.ts';
import type { BodyInspectionConfig } from '../config/policy-schema.ts';
import type { Reply } from '../proxy/reply.ts';

export type Decoded = { ok: true; bytes: Buffer } | { ok: false; reply: Reply };

type Decoder = (input: Buffer, maxOutputLength: number) => Buffer;

// A Map: the client names the coding, and "constructor" must not find one.
const decoders: ReadonlyMap<string, Decoder> = new Map<string, Decoder>([
  ['gzip', (input, maxOutputLength) => gunzipSync(input, { maxOutputLength })],
  ['x-gzip', (input, maxOutputLength) => gunzipSync(input, { maxOutputLength })],
  ['deflate', (input, maxOutputLength) => inflateSync(input, { maxOutputLength })],
  ['br', (input, maxOutputLength) => brotliDecompressSync(input, { maxOutputLength })],
]);

const unsupported: Reply = {
  status: 415,
  code: 'GUARD_ERR_UNSUPPORTED_MEDIA_TYPE',
  message: 'this content encoding is not accepted here',
};

// Undoes the Content-Encoding of an inspected body so the guard reads what the
// app would. One layer at most: stacked encodings only serve to multiply a
// decompression bomb. The output is capped while it is produced (zlib stops
// at maxOutputLength), and the ratio is capped too, so a few kilobytes can
// never make the guard hold or scan megabytes.
export function decodeContentEncoding(
  raw: Buffer,
  header: string | undefined,
  settings: BodyInspectionConfig,
): Decoded {
  const codings = listCodings(header);
  if (codings.length === 0) return { ok: true, bytes: raw };
  const [coding] = codings;
  const decode = coding === undefined ? undefined : decoders.get(coding);
  if (codings.length > 1 || !decode || settings.encodings === 'refuse') {
    return { ok: false, reply: unsupported };
  }

  const maxOutput = Math.min(settings.maxDecodedBytes, Math.ceil(raw.length * settings.maxRatio));
  try {
    return { ok: true, bytes: decode(raw, maxOutput) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      const message = 'the decoded request body exceeds the limit';
      return { ok: false, reply: { status: 413, code: 'GUARD_ERR_BODY_TOO_LARGE', message } };
    }
    const message = 'the request body cannot be decoded';
    return { ok: false, reply: { status: 400, code: 'GUARD_ERR_BODY_INVALID', message } };
  }
}
