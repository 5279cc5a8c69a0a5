import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log.ts';
import { accountRouteFor, observeAccountRoute } from './account-events.ts';
import { adminActionFor, issuedSession, requestSessionToken } from './admin-actions.ts';
import { AnswerCapture, userOf } from './answer-body.ts';
import type { SecurityEvents } from './security-events.ts';
import {
  firstValue,
  hashSessionToken,
  lookupOwner,
  type SessionOwnerStore,
} from './session-owners.ts';

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
  /** The request goes to the app; `account` is the email its inspected body named. */
  onForward?(account: string | undefined): void;
  onHeaders(status: number, headers: Record<string, string | string[] | undefined>): void;
  onData(chunk: Buffer): void;
};

export type ObserverDeps = {
  readonly events: SecurityEvents;
  readonly sessionOwners: SessionOwnerStore;
  readonly logger: Logger;
};

// Answers that may start a session: sign-in, second factor, sign-up (when the
// app does not ask for email verification) and a password change that ends
// the other sessions and issues a new one.
const learnsOwner =
  /^\/api\/auth\/(?:sign-in\/email|sign-up\/email|change-password|two-factor\/verify-[a-z-]+)$/;
const maxCapturedBytes = 64 * 1024;

// Watches the app's answers for what the audit trail needs: who a new session
// belongs to (from the answer that sets its cookie), admin actions with the
// acting user, and sign-ups, sign-outs and password changes and resets
// (audit/account-events.ts). It only reads; nothing it does delays or changes
// the response.
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
          userAgent: firstValue(req.headers['user-agent']),
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
  if (method !== 'POST') return undefined;
  const learner = learnsOwner.test(seen.path) ? learnSessionOwner(deps, res) : undefined;
  const account = accountRouteFor(method, seen.path);
  if (!account) return learner;
  const watcher = observeAccountRoute(deps, req, res, seen, account);
  return learner ? both(watcher, learner) : watcher;
}

function learnSessionOwner(deps: ObserverDeps, res: ServerResponse): ResponseObserver {
  let session: ReturnType<typeof issuedSession>;
  let capture: AnswerCapture | undefined;
  let encoding: string | string[] | undefined;
  res.once('finish', () => {
    if (!session) return;
    const owner = userOf(capture?.json(encoding));
    if (!owner) return;
    deps.sessionOwners
      .remember(hashSessionToken(session.token), owner, session.ttlSeconds)
      .catch(() => deps.logger.warn({ store: 'session-owners' }, 'session owner not stored'));
  });
  return {
    onHeaders(status, headers) {
      if (status !== 200) return;
      session = issuedSession(headers['set-cookie']);
      if (session) capture = new AnswerCapture(maxCapturedBytes);
      encoding = headers['content-encoding'];
    },
    onData(chunk) {
      capture?.add(chunk);
    },
  };
}

function both(first: ResponseObserver, second: ResponseObserver): ResponseObserver {
  return {
    onForward(account) {
      first.onForward?.(account);
      second.onForward?.(account);
    },
    onHeaders(status, headers) {
      first.onHeaders(status, headers);
      second.onHeaders(status, headers);
    },
    onData(chunk) {
      first.onData(chunk);
      second.onData(chunk);
    },
  };
}

async function ownerOf(deps: ObserverDeps, token: string | undefined) {
  if (!token) return undefined;
  return lookupOwner(deps.sessionOwners, deps.logger, hashSessionToken(token));
}
