import type { IncomingHttpHeaders } from 'node:http';
import { findSession } from './double-sessions.ts';
import type { Exchange } from './double-state.ts';
import { abortOnClose, delay, redirectToLogin, sendText } from './http-helpers.ts';
import { CSP_PROBE_PATH, REALTIME_PATH } from './page-assets.ts';
import { bodyOf } from './request-recorder.ts';

const PUBLIC_PAGES = new Set(['/', '/login', '/signup', '/forgot-password', '/reset-password']);
const CHUNK_DELAY_MS = 20;
const SERVER_ACTION_MAX_BYTES = 1024 * 1024;
const NONCE_PATTERN = /^[A-Za-z0-9+/=_-]+$/;

/** Pages and the Server Actions posted to them. */
export async function handlePage(exchange: Exchange): Promise<void> {
  const { req, res, url, state } = exchange;
  if (!PUBLIC_PAGES.has(url.pathname) && findSession(state, req.headers) === undefined) {
    return redirectToLogin(req, res);
  }
  if (req.method === 'POST' && req.headers['next-action'] !== undefined) {
    return runServerAction(exchange);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return sendText(res, 405, 'Method Not Allowed\n');
  }
  await streamPage(exchange);
}

/** Chunked HTML with pauses between chunks, as a streamed React render arrives. */
async function streamPage({ req, res, url }: Exchange): Promise<void> {
  const nonce = readScriptNonce(req.headers);
  const nonceAttribute = nonce === undefined ? '' : ` nonce="${nonce}"`;
  const title = url.pathname === '/login' ? 'Sign in' : url.pathname;
  const chunks = [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">' +
      `<title>OComms ${escapeHtml(title)}</title>` +
      `<script src="${CSP_PROBE_PATH}"${nonceAttribute}></script>` +
      `<script${nonceAttribute}>window.__inlineRan = true;</script></head>`,
    `<body><main id="app" data-path="${escapeHtml(url.pathname)}">${escapeHtml(title)}</main>`,
    `<script src="/socket.io/socket.io.js"${nonceAttribute}></script>` +
      `<script src="${REALTIME_PATH}"${nonceAttribute}></script>`,
    '</body></html>',
  ];

  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'private, no-cache, no-store, max-age=0, must-revalidate',
    Vary: 'RSC, Next-Router-State-Tree, Next-Router-Prefetch, Accept-Encoding',
  });
  await writeSlowly(res, chunks);
}

/**
 * The id in Next-Action names the action, whatever the URL. Next.js refuses an Origin
 * whose host differs from the (forwarded) Host, so a proxy must keep the two consistent.
 */
async function runServerAction({ req, res }: Exchange): Promise<void> {
  const body = await bodyOf(req);
  if (body.totalBytes > SERVER_ACTION_MAX_BYTES) {
    return sendText(res, 413, 'Body exceeded 1 MB limit.\n');
  }
  if (!originMatchesHost(req.headers)) {
    return sendText(res, 500, 'Invalid Server Actions request.\n');
  }

  const actionId = String(req.headers['next-action']);
  res.writeHead(200, {
    'Content-Type': 'text/x-component',
    'Cache-Control': 'no-cache, no-store, max-age=0, must-revalidate',
    Vary: 'RSC, Next-Router-State-Tree, Next-Router-Prefetch',
  });
  await writeSlowly(res, [
    `0:{"a":"$@1","f":"","b":"ocomms-double"}\n`,
    `1:${JSON.stringify({ ok: true, actionId, bodyBytes: body.totalBytes })}\n`,
  ]);
}

async function writeSlowly(res: Exchange['res'], chunks: string[]): Promise<void> {
  const signal = abortOnClose(res);
  for (const [index, chunk] of chunks.entries()) {
    if (signal.aborted) return;
    if (index > 0) await delay(CHUNK_DELAY_MS, signal);
    res.write(chunk);
  }
  res.end();
}

function originMatchesHost(headers: IncomingHttpHeaders): boolean {
  if (headers.origin === undefined) return true;
  const forwardedHost = headers['x-forwarded-host'];
  const host = (Array.isArray(forwardedHost) ? forwardedHost[0] : forwardedHost) ?? headers.host;
  try {
    return new URL(headers.origin).host === host?.split(',')[0]?.trim();
  } catch {
    return false;
  }
}

/**
 * Next.js takes the nonce for its own scripts from the Content-Security-Policy request
 * header that middleware (or a proxy) sets, preferring script-src over default-src.
 */
function readScriptNonce(headers: IncomingHttpHeaders): string | undefined {
  const header = headers['content-security-policy'];
  if (header === undefined) return undefined;
  const policy = Array.isArray(header) ? header.join(';') : header;
  const directives = policy.split(';').map((directive) => directive.trim().split(/\s+/));
  const source =
    directives.find((parts) => parts[0] === 'script-src') ??
    directives.find((parts) => parts[0] === 'default-src');
  const token = source?.find((part) => part.startsWith("'nonce-") && part.endsWith("'"));
  const nonce = token?.slice(7, -1);
  return nonce !== undefined && NONCE_PATTERN.test(nonce) ? nonce : undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
