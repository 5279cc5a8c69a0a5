import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ReceivedBody } from './request-recorder.ts';

export type Fields = Record<string, unknown>;

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  setCookies: string[] = [],
): void {
  const payload = Buffer.from(JSON.stringify(value));
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', payload.length);
  if (setCookies.length > 0) res.setHeader('Set-Cookie', setCookies);
  res.end(payload);
}

/** better-auth's error shape: `code` is the upper-snake form of `message`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
): void {
  sendJson(res, status, { code, message });
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.setHeader('Content-Length', 0);
  res.end();
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * The origin the request was addressed to, as Next.js rebuilds `request.url` behind a
 * proxy: the forwarded host and protocol win over the Host header.
 */
export function requestOrigin(headers: IncomingHttpHeaders): string {
  const proto = firstListItem(headers['x-forwarded-proto']) ?? 'http';
  const host = firstListItem(headers['x-forwarded-host']) ?? headers.host ?? 'localhost';
  return `${proto}://${host}`;
}

/** What the app's middleware answers for a protected route without a session. */
export function redirectToLogin(req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 307;
  res.setHeader('Location', `${requestOrigin(req.headers)}/login`);
  res.setHeader('Content-Length', 0);
  res.end();
}

export function readCookies(headers: IncomingHttpHeaders): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const pair of (headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim();
    if (!cookies.has(name)) cookies.set(name, safeDecode(pair.slice(at + 1).trim()));
  }
  return cookies;
}

/** JSON or urlencoded fields, as better-auth accepts both; undefined when unparseable. */
export function parseFields(headers: IncomingHttpHeaders, body: ReceivedBody): Fields | undefined {
  if (body.totalBytes > body.bytes.length) return undefined;
  const text = body.bytes.toString('utf8');
  const type = (headers['content-type'] ?? '').toLowerCase();

  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return isFields(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function stringField(fields: Fields, name: string): string | undefined {
  const value = fields[name];
  return typeof value === 'string' ? value : undefined;
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

/** An AbortSignal that fires when the client goes away before the response ends. */
export function abortOnClose(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  return controller.signal;
}

function firstListItem(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const item = first?.split(',')[0]?.trim();
  return item === '' ? undefined : item;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
