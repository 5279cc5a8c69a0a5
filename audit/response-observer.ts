import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from '../common/log.ts';
import { adminActionFor, issuedSession, requestSessionToken } from './admin-actions.ts';
import type { SecurityEvents } from './security-events.ts';
import { hashSessionToken, type SessionOwner, type SessionOwnerStore } from './session-owners.ts';

export type ObservedRequest = {
  readonly requestId: string;
  readonly clientIp: string;
  /** Normalised, for recognising the endpoint. */
  readonly path: string;
  /** As sent, without the query, for the record. */
  readonly rawPath: string;
  readonly route: string;
};

export type ResponseObserver = {
  onHeaders(status: number, headers: Record<string, string | string[] | undefined>): void;
  onData(chunk: Buffer): void;
};

export type ObserverDeps = {
  readonly events: SecurityEvents;
  readonly sessionOwners: SessionOwnerStore;
  readonly logger: Logger;
};

const signInPaths = /^\/api\/auth\/(?:sign-in\/email|two-factor\/verify-[a-z-]+)$/;
const maxCapturedBytes = 64 * 1024;

// Watches the app's answers for what the audit trail needs: who a new session
// belongs to (from the sign-in answer that sets its cookie), the end of a
// session, and admin actions with the acting user. It only reads; nothing it
// does delays or changes the response.
export function observeResponse(
  deps: ObserverDeps,
  req: IncomingMessage,
  res: ServerResponse,
  seen: ObservedRequest,
): ResponseObserver | undefined {
  const method = req.method ?? 'GET';
  const admin = adminActionFor(method, seen.path, req.headers);
  if (admin) {
    const token = requestSessionToken(req.headers);
    res.once('close', () => {
      const status = res.writableFinished ? res.statusCode : 499;
      void ownerOf(deps, token).then((owner) => {
        deps.events.emit({
          type: 'admin.action',
          outcome:
            status < 400 ? 'success' : status === 401 || status === 403 ? 'denied' : 'failure',
          actor: owner ?? {},
          clientIp: seen.clientIp,
          userAgent: header(req.headers['user-agent']),
          requestId: seen.requestId,
          route: seen.route,
          method,
          path: seen.rawPath,
          status,
          details: { kind: admin.kind, actionId: admin.actionId, knownUser: owner !== undefined },
        });
      });
    });
    return undefined;
  }
  if (method === 'POST' && seen.path === '/api/auth/sign-out') {
    const token = requestSessionToken(req.headers);
    if (!token) return undefined;
    res.once('finish', () => {
      if (res.statusCode < 400) void deps.sessionOwners.forget(hashSessionToken(token));
    });
    return undefined;
  }
  if (method !== 'POST' || !signInPaths.test(seen.path)) return undefined;
  return learnSessionOwner(deps, res);
}

function learnSessionOwner(deps: ObserverDeps, res: ServerResponse): ResponseObserver {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let session: ReturnType<typeof issuedSession>;
  let encoding = 'identity';
  res.once('finish', () => {
    if (!session) return;
    const owner = readOwner(Buffer.concat(chunks), encoding);
    if (!owner) return;
    deps.sessionOwners
      .remember(hashSessionToken(session.token), owner, session.ttlSeconds)
      .catch(() => deps.logger.warn({ store: 'session-owners' }, 'session owner not stored'));
  });
  return {
    onHeaders(status, headers) {
      if (status !== 200) return;
      session = issuedSession(headers['set-cookie']);
      encoding = header(headers['content-encoding'])?.toLowerCase() ?? 'identity';
    },
    onData(chunk) {
      if (!session || bytes + chunk.length > maxCapturedBytes) return;
      chunks.push(chunk);
      bytes += chunk.length;
    },
  };
}

function readOwner(body: Buffer, encoding: string): SessionOwner | undefined {
  try {
    const limit = { maxOutputLength: maxCapturedBytes * 4 };
    const plain =
      encoding === 'gzip' || encoding === 'x-gzip'
        ? gunzipSync(body, limit)
        : encoding === 'br'
          ? brotliDecompressSync(body, limit)
          : encoding === 'deflate'
            ? inflateSync(body, limit)
            : body;
    const parsed = JSON.parse(plain.toString('utf8')) as {
      user?: { id?: unknown; email?: unknown };
    };
    const user = parsed.user;
    if (!user || typeof user !== 'object') return undefined;
    const owner: { account?: string; userId?: string } = {};
    if (typeof user.email === 'string') owner.account = user.email.toLowerCase();
    if (typeof user.id === 'string') owner.userId = user.id;
    return owner.account || owner.userId ? owner : undefined;
  } catch {
    return undefined;
  }
}

async function ownerOf(deps: ObserverDeps, token: string | undefined) {
  if (!token) return undefined;
  try {
    return await deps.sessionOwners.lookup(hashSessionToken(token));
  } catch {
    deps.logger.warn({ store: 'session-owners' }, 'session owner lookup failed');
    return undefined;
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
