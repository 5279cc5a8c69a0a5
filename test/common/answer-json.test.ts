import { brotliCompressSync, deflateSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeBody, readJsonAnswer } from '../../common/answer-json.ts';

// The app's answers the guard reads (sign-in outcomes, account events) may
// come compressed in any coding the client offered.

const answer = { code: 'INVALID_EMAIL_OR_PASSWORD', message: 'Invalid email or password' };
const json = Buffer.from(JSON.stringify(answer));

describe('answers of the app', () => {
  it('are read in every coding a browser offers, and without one', () => {
    expect(readJsonAnswer(json, undefined, 4096)).toEqual(answer);
    expect(readJsonAnswer(json, 'identity', 4096)).toEqual(answer);
    expect(readJsonAnswer(gzipSync(json), 'gzip', 4096)).toEqual(answer);
    expect(readJsonAnswer(gzipSync(json), 'X-Gzip', 4096)).toEqual(answer);
    expect(readJsonAnswer(deflateSync(json), 'deflate', 4096)).toEqual(answer);
    expect(readJsonAnswer(brotliCompressSync(json), 'br', 4096)).toEqual(answer);
    expect(readJsonAnswer(zstdCompressSync(json), ' zstd ', 4096)).toEqual(answer);
  });

  it('undo stacked codings from the last applied', () => {
    const twice = brotliCompressSync(gzipSync(json));
    expect(readJsonAnswer(twice, 'gzip, br', 4096)).toEqual(answer);
    expect(readJsonAnswer(twice, ['gzip', 'br'], 4096)).toEqual(answer);
    expect(readJsonAnswer(twice, 'br, gzip', 4096)).toBeUndefined();
  });

  it('give nothing for an unknown coding, a corrupt body or text that is not JSON', () => {
    expect(decodeBody(json, 'compress', 4096)).toBeUndefined();
    expect(decodeBody(json, 'constructor', 4096)).toBeUndefined();
    expect(decodeBody(json, 'gzip, __proto__', 4096)).toBeUndefined();
    expect(decodeBody(json, 'gzip', 4096)).toBeUndefined();
    expect(readJsonAnswer(Buffer.from('<html>'), undefined, 4096)).toBeUndefined();
  });

  it('stop at maxBytes, however small the compressed body', () => {
    const large = Buffer.alloc(1024 * 1024, 'a');
    const bomb = gzipSync(large);
    expect(bomb.length).toBeLessThan(4096);
    expect(decodeBody(bomb, 'gzip', 4096)).toBeUndefined();
    expect(decodeBody(large, undefined, 4096)).toBeUndefined();
    expect(decodeBody(bomb, 'gzip', large.length)?.length).toBe(large.length);
  });
});
