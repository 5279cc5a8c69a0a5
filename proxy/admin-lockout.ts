import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LockEntry } from '../policies/lockout-store.ts';
import type { AdminToken } from './admin-access.ts';
import type { GuardRuntime } from './context.ts';

const MAX_BODY_BYTES = 4096;

export type LockView = {
  account: string;
  scope: LockEntry['scope'];
  address?: string;
  lockedUntil: string;
  level: number;
};

export function viewOf(entry: LockEntry): LockView {
  return {
    account: entry.account,
    scope: entry.scope,
    ...(entry.label ? { address: entry.label } : {}),
    lockedUntil: new Date(entry.untilMs).toISOString(),
    level: entry.level,
  };
}

type Json = (res: ServerResponse, status: number, body: unknown) => void;

// GET /lockout lists the locks in force; POST /lockout/unlock {"email", "by"}
// clears every counter of one account. Both need the admin token.
export async function handleLockoutAdmin(
  runtime: GuardRuntime,
  token: AdminToken,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  json: Json,
): Promise<void> {
  if (!token.allows(req)) {
    return json(res, 401, { code: 'GUARD_ERR_ADMIN_DENIED', message: 'an admin token is needed' });
  }
  const { lockout } = runtime.auth;
  if (path === '/lockout' && req.method === 'GET') {
    const locks = await lockout.list();
    return json(res, 200, { locks: locks.map(viewOf) });
  }
  if (path === '/lockout/unlock' && req.method === 'POST') {
    const body = await readJson(req);
    const email = typeof body?.email === 'string' ? body.email.trim() : '';
    if (!email) {
      return json(res, 400, { code: 'GUARD_ERR_BAD_REQUEST', message: 'expected {"email"}' });
    }
    const by = typeof body?.by === 'string' ? body.by.slice(0, 64) : 'admin';
    const cleared = await lockout.unlock(email, `admin-listener:${by}`);
    return json(res, 200, { account: email.toLowerCase(), cleared: cleared.map(viewOf) });
  }
  json(res, 404, { code: 'GUARD_ERR_NOT_FOUND', message: 'no such endpoint' });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
