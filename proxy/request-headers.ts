import type { IncomingMessage } from 'node:http';
import type { ClientAddress } from './client-address.ts';
import { connectionOptions, hopByHop, rewrittenByGuard } from './hop-by-hop.ts';
import { isDropped, type RequestHeaderDrop } from './request-header-drop.ts';

export type UpstreamHeaders = Record<string, string | string[]>;

export type ForwardContext = {
  client: ClientAddress;
  requestId: string;
  proto: 'https' | 'http';
  /** Content-Security-Policy handed to the app so Next.js can read the nonce. */
  cspRequestHeader?: string | undefined;
  /** Client headers the app must never receive, such as Next.js internal ones. */
  drop?: RequestHeaderDrop | undefined;
};

// Builds the headers the upstream receives: the client's end-to-end headers in
// their order, then the guard's own. Hop-by-hop fields and those named in
// Connection are dropped before the guard adds its headers, so a client that
// lists X-Forwarded-For in Connection cannot strip what the guard writes.
// Dropped headers are checked first, so they are counted however they came.
export function buildUpstreamHeaders(
  req: IncomingMessage,
  context: ForwardContext,
  keep: ReadonlySet<string> = emptySet,
): UpstreamHeaders {
  const named = connectionOptions(req.headers.connection);
  const { drop } = context;
  const headers: UpstreamHeaders = {};
  const raw = req.rawHeaders;
  let removed: string[] | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = (raw[index] ?? '').toLowerCase();
    const value = raw[index + 1] ?? '';
    if (drop !== undefined && isDropped(drop, name)) {
      removed ??= [];
      removed.push(name);
      continue;
    }
    if (!keep.has(name) && (hopByHop.has(name) || named.has(name))) continue;
    if (rewrittenByGuard.has(name)) continue;
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else headers[name] = [existing, value];
  }

  if (removed) drop?.report(removed, context.requestId);
  addForwarding(headers, req, context);
  const length = req.headers['content-length'];
  if (length !== undefined && req.headers['transfer-encoding'] === undefined) {
    headers['content-length'] = length;
  }
  if (context.cspRequestHeader) headers['content-security-policy'] = context.cspRequestHeader;
  return headers;
}

const emptySet: ReadonlySet<string> = new Set();

function addForwarding(headers: UpstreamHeaders, req: IncomingMessage, context: ForwardContext) {
  const { client } = context;
  const host = typeof req.headers.host === 'string' ? req.headers.host : undefined;
  headers['x-forwarded-for'] = client.viaTrustedProxy
    ? [...client.forwardedChain, client.peer].join(', ')
    : client.ip;
  headers['x-forwarded-proto'] = context.proto;
  if (host) headers['x-forwarded-host'] = host;
  headers['x-request-id'] = context.requestId;
  // The client address is an IP address: only IPv6 ones hold a colon.
  const forwardedFor = client.ip.includes(':') ? `"[${client.ip}]"` : client.ip;
  const forwardedHost = host && quotableHost(host) ? `;host="${host}"` : '';
  headers.forwarded = `for=${forwardedFor};proto=${context.proto}${forwardedHost}`;
}

// Nearly every request names the same host, so the last answer is kept.
let lastHost = '';
let lastQuotable = false;
function quotableHost(host: string): boolean {
  if (host !== lastHost) {
    lastHost = host;
    lastQuotable = /^[A-Za-z0-9.:[\]-]+$/.test(host);
  }
  return lastQuotable;
}
