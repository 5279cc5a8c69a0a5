import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';

type HeaderValue = string | string[] | undefined;
type Decoder = (body: Buffer, options: { maxOutputLength: number }) => Buffer;

// The codings an app may use for its answers (RFC 9110 section 8.4.1; zstd
// from RFC 8878). A Map: a coding named "constructor" is not a coding.
const decoders: ReadonlyMap<string, Decoder> = new Map<string, Decoder>([
  ['gzip', gunzipSync],
  ['x-gzip', gunzipSync],
  ['deflate', inflateSync],
  ['br', brotliDecompressSync],
  ['zstd', zstdDecompressSync],
]);

/** The codings of a Content-Encoding header in the order applied, identity left out. */
export function listCodings(contentEncoding: HeaderValue): string[] {
  return [contentEncoding ?? []]
    .flat()
    .join(',')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

// A body as the app sent it, with its content codings undone: they are
// listed in the order they were applied, so the last is undone first. An
// unknown coding, a corrupt body or more than maxBytes gives undefined.
export function decodeBody(body: Buffer, contentEncoding: HeaderValue, maxBytes: number) {
  const codings = listCodings(contentEncoding);
  const options = { maxOutputLength: maxBytes };
  let plain = body;
  try {
    for (const coding of codings.reverse()) {
      const decode = decoders.get(coding);
      if (!decode) return undefined;
      plain = decode(plain, options);
    }
  } catch {
    return undefined;
  }
  return plain.length <= maxBytes ? plain : undefined;
}

/** The JSON of an app's answer, or undefined when it cannot be read. */
export function readJsonAnswer(body: Buffer, contentEncoding: HeaderValue, maxBytes: number) {
  const plain = decodeBody(body, contentEncoding, maxBytes);
  if (!plain) return undefined;
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
