import type { Exchange } from './double-state.ts';
import { abortOnClose, delay, sendJson, sendText } from './http-helpers.ts';
import { bodyOf } from './request-recorder.ts';

// Test-only routes, not part of OComms: they let proxy tests see what arrived upstream
// and exercise streaming, slow upstreams, large bodies and hostile response headers.

const STREAM_CHUNKS = 6;
const STREAM_INTERVAL_MS = 50;
const MAX_SLOW_MS = 10 * 60 * 1000;
const MAX_SIZE_BYTES = 1024 * 1024 * 1024;
const SIZE_CHUNK_BYTES = 64 * 1024;

/** Any method: the request line and headers exactly as the upstream received them. */
export async function echoRequest({ req, res }: Exchange): Promise<void> {
  const body = await bodyOf(req);
  sendJson(res, 200, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    bodyBytes: body.totalBytes,
  });
}

/** Plain-text chunks over about 300 ms, to show a proxy is not buffering. */
export async function streamChunks({ res }: Exchange): Promise<void> {
  const signal = abortOnClose(res);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.flushHeaders();

  for (let index = 0; index < STREAM_CHUNKS && !signal.aborted; index++) {
    res.write(`chunk ${index} at ${Date.now()}\n`);
    await delay(STREAM_INTERVAL_MS, signal);
  }
  res.end();
}

/** Headers held back for `ms` milliseconds, for upstream timeout tests. */
export async function answerSlowly({ res, url }: Exchange): Promise<void> {
  const delayMs = readInteger(url.searchParams.get('ms'), 0, MAX_SLOW_MS);
  if (delayMs === undefined) return sendText(res, 400, `ms must be 0..${MAX_SLOW_MS}\n`);

  const signal = abortOnClose(res);
  await delay(delayMs, signal);
  if (!signal.aborted) sendJson(res, 200, { delayedMs: delayMs });
}

/** Exactly `bytes` bytes with Content-Length; HEAD keeps the length and sends no body. */
export async function answerSized({ req, res, url }: Exchange): Promise<void> {
  const size = readInteger(url.searchParams.get('bytes'), 0, MAX_SIZE_BYTES);
  if (size === undefined) return sendText(res, 400, `bytes must be 0..${MAX_SIZE_BYTES}\n`);

  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
  if (req.method === 'HEAD') return void res.end();

  const chunk = Buffer.alloc(Math.min(size, SIZE_CHUNK_BYTES), 0x61);
  const signal = abortOnClose(res);
  for (let sent = 0; sent < size && !signal.aborted; sent += chunk.length) {
    const part = size - sent < chunk.length ? chunk.subarray(0, size - sent) : chunk;
    if (!res.write(part)) await drained(res);
  }
  res.end();
}

/**
 * Security headers the app might send itself, in mixed case and duplicated, which a guard
 * has to replace rather than append to.
 */
export function answerHeadersCase({ res }: Exchange): void {
  const payload = Buffer.from(JSON.stringify({ ok: true }));
  res.writeHead(200, [
    'Content-Type',
    'application/json',
    'Content-Length',
    String(payload.length),
    'x-frame-options',
    'SAMEORIGIN',
    'X-FRAME-OPTIONS',
    'ALLOWALL',
    'Content-Security-Policy',
    'default-src *',
    'content-security-policy',
    "script-src 'unsafe-inline' 'unsafe-eval' *",
    'strict-transport-security',
    'max-age=0',
    'X-Content-Type-Options',
    'sniff',
    'x-powered-by',
    'Next.js',
    'SERVER',
    'OComms-double',
    'Access-Control-Allow-Origin',
    '*',
  ]);
  res.end(payload);
}

function drained(res: Exchange['res']): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function readInteger(value: string | null, min: number, max: number): number | undefined {
  if (value === null || !/^\d+$/.test(value)) return undefined;
  const parsed = Number(value);
  return parsed >= min && parsed <= max ? parsed : undefined;
}

/**
 * CORS as a careless app answers it: the caller's Origin reflected with credentials,
 * whoever the caller is, and every method allowed.
 */
export function answerCorsReflect({ req, res }: Exchange): void {
  const headers: Record<string, string> = {
    'Access-Control-Allow-Credentials': 'true',
    'Access-Control-Allow-Methods': '*',
    'Access-Control-Expose-Headers': '*',
  };
  if (req.headers.origin !== undefined) {
    headers['Access-Control-Allow-Origin'] = String(req.headers.origin);
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendJson(res, 200, { reflected: req.headers.origin ?? null });
}
