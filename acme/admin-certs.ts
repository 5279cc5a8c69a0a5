import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { CertificateStatus } from './acme-manager.ts';

export type CertificateAdmin = {
  ready(): boolean;
  status(): CertificateStatus[];
  renew(force: boolean): Promise<CertificateStatus[]>;
};

// GET /certs lists the ACME certificates; POST /certs/renew[?force=1] runs a
// check now (what `ocomms-guard certs renew` calls). Renewal is taken from
// loopback peers only, even when the admin listener is bound more widely,
// because a forced renewal spends the CA's rate limits.
export async function handleCertificateAdmin(
  admin: CertificateAdmin | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  if (!admin)
    return send(res, 404, { code: 'GUARD_ERR_NOT_FOUND', message: 'tls.mode is not acme' });
  if (url.pathname === '/certs' && (req.method === 'GET' || req.method === 'HEAD')) {
    return send(res, 200, { ready: admin.ready(), certificates: admin.status() });
  }
  if (url.pathname !== '/certs/renew' || req.method !== 'POST') {
    return send(res, 405, { code: 'GUARD_ERR_BAD_REQUEST', message: 'method not allowed' });
  }
  if (!isLoopback(req.socket.remoteAddress)) {
    return send(res, 403, { code: 'GUARD_ERR_BAD_REQUEST', message: 'renewal from loopback only' });
  }
  req.resume();
  const certificates = await admin.renew(url.searchParams.get('force') === '1');
  send(res, 200, { ready: admin.ready(), certificates });
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.replace(/^::ffff:/, '');
  return plain === '::1' || (isIP(plain) === 4 && plain.startsWith('127.'));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}
