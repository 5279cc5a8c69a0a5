import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { handleCertificateAdmin } from '../acme/admin-certs.ts';
import { handleLockoutAdmin } from './admin-lockout.ts';
import type { GuardRuntime } from './context.ts';

// Operators' endpoints, on loopback by default: liveness, readiness (the
// upstream accepts connections; the shared store's state is shown),
// Prometheus metrics, and the lockout actions.
export function createAdminServer(runtime: GuardRuntime, adminToken: string): Server {
  return createServer((req, res) => {
    handleAdmin(runtime, adminToken, req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { status: 'error' });
      else res.destroy();
    });
  });
}

async function handleAdmin(
  runtime: GuardRuntime,
  adminToken: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path === '/certs' || path === '/certs/renew') {
    return handleCertificateAdmin(runtime.certificates, req, res);
  }
  if (path === '/lockout' || path.startsWith('/lockout/')) {
    return handleLockoutAdmin(runtime, adminToken, req, res, path, json);
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return json(res, 405, { code: 'GUARD_ERR_BAD_REQUEST', message: 'method not allowed' });
  }
  if (path === '/healthz') return json(res, 200, { status: 'ok' });
  if (path === '/readyz') {
    if (runtime.closing) return json(res, 503, { status: 'stopping' });
    if (runtime.certificates?.ready() === false) {
      return json(res, 503, { status: 'certificates pending' });
    }
    const reachable = await upstreamReachable(runtime.upstream.origin, 1000);
    // The store is reported, not required: every instance shares one Redis,
    // so failing readiness on it would take them all out of the balancer at
    // once, while each rate-limit rule already declares what it does without
    // Redis (onStoreError).
    return json(res, reachable ? 200 : 503, {
      status: reachable ? 'ready' : 'upstream unreachable',
      store: runtime.store.state(),
    });
  }
  if (path === '/metrics') {
    const body = await runtime.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': runtime.metrics.registry.contentType });
    res.end(body);
    return;
  }
  json(res, 404, { code: 'GUARD_ERR_NOT_FOUND', message: 'no such endpoint' });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

function upstreamReachable(origin: URL, timeoutMs: number): Promise<boolean> {
  const port = Number(origin.port || (origin.protocol === 'https:' ? 443 : 80));
  const host = origin.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
