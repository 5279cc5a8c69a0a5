import type { IncomingMessage, ServerResponse } from 'node:http';
import { json } from './admin.ts';
import type { AdminToken } from './admin-access.ts';
import type { Reloader } from './reload.ts';

const maxBodyBytes = 1024;

// POST /reload on the admin listener: what `ocomms-guard reload` calls. The
// guard reloads the file it was started with; the caller cannot name another
// file or send configuration, only say who it is.
export function createReloadRoute(token: AdminToken, reloader: Reloader) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const clientIp = req.socket.remoteAddress;
    const from = clientIp ? { clientIp } : {};
    if (!token.allows(req)) {
      req.resume();
      const request = { channel: 'admin', requestedBy: 'unnamed', ...from } as const;
      const outcome = reloader.deny(request, 'GUARD_ERR_ADMIN_DENIED', 'an admin token is needed');
      res.setHeader('www-authenticate', 'Bearer');
      res.shouldKeepAlive = false;
      return json(res, 401, outcome);
    }
    const requestedBy = claimedName(await readSmallBody(req));
    const outcome = await reloader.reload({ channel: 'admin', requestedBy, ...from });
    if (outcome.status === 'applied') return json(res, 200, outcome);
    json(res, outcome.code === 'GUARD_ERR_CONFIG_INVALID' ? 422 : 409, outcome);
  };
}

function readSmallBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (text.length < maxBodyBytes) text += chunk;
    });
    req.on('end', () => resolve(text.slice(0, maxBodyBytes)));
    req.on('error', () => resolve(''));
  });
}

// A name the caller claims, for the audit trail. It is not proof (the token
// is); it is kept short and plain so that it cannot forge a log line.
function claimedName(body: string): string {
  try {
    const value = (JSON.parse(body) as { requestedBy?: unknown }).requestedBy;
    if (typeof value === 'string' && /^[\w.@:() -]{1,64}$/.test(value)) return value;
  } catch {
    // no body or not JSON: nobody named
  }
  return 'unnamed';
}
