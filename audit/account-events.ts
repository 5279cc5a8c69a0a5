import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log.ts';
import { requestSessionToken } from './admin-actions.ts';
import { AnswerCapture, errorCodeOf, userOf } from './answer-body.ts';
import type { EventOutcome, SecurityEventType } from './catalogue.ts';
import type { SecurityEventInput, SecurityEvents } from './security-events.ts';
import {
  firstValue,
  hashSessionToken,
  lookupOwner,
  type SessionOwner,
  type SessionOwnerStore,
} from './session-owners.ts';

// Sign-up, sign-out and password changes and resets, as the guard sees them:
// the request it forwarded and the app's answer. An event says what the app
// answered, not what the client asked for. Requests the guard refused itself
// never reach the app and carry their own event (rate.limited,
// password.rejected, origin.denied).

type ActorSource =
  /** The `user` of a 2xx answer, else the email the request named. */
  | 'answer'
  /** The email the request named (the inspected body). */
  | 'request'
  /** Whoever the session cookie belongs to (audit/session-owners.ts). */
  | 'session'
  /** A reset token names its account to the app only. */
  | 'none';

export type AccountRoute = {
  readonly type: SecurityEventType;
  /** The type when the answer is not a 2xx; the same type when absent. */
  readonly otherwise?: SecurityEventType;
  readonly actor: ActorSource;
};

const accountRoutes: Readonly<Record<string, AccountRoute>> = {
  '/api/auth/sign-up/email': {
    type: 'signup.succeeded',
    otherwise: 'signup.failed',
    actor: 'answer',
  },
  '/api/auth/sign-out': { type: 'logout', actor: 'session' },
  '/api/auth/change-password': { type: 'password.changed', actor: 'session' },
  '/api/auth/request-password-reset': { type: 'password.reset_requested', actor: 'request' },
  '/api/auth/reset-password': { type: 'password.reset_completed', actor: 'none' },
};

/** The account route a request is for; `path` is the guard's normalised form. */
export function accountRouteFor(method: string, path: string): AccountRoute | undefined {
  if (method !== 'POST' || !Object.hasOwn(accountRoutes, path)) return undefined;
  return accountRoutes[path];
}

/** What the app's status says; undefined (no answer): the guard cannot tell. */
export function accountOutcome(appStatus: number | undefined): EventOutcome {
  if (appStatus === undefined) return 'info';
  if (appStatus >= 200 && appStatus < 300) return 'success';
  return appStatus === 401 || appStatus === 403 ? 'denied' : 'failure';
}

export type AccountSeen = {
  readonly requestId: string;
  readonly clientIp: string;
  readonly rawPath: string;
  readonly route: string;
};

export type AccountDeps = {
  readonly events: SecurityEvents;
  readonly sessionOwners: SessionOwnerStore;
  readonly logger: Logger;
};

type Exchange = {
  forwarded: boolean;
  /** The email the forwarded request named, trimmed and lower-cased. */
  requestAccount: string | undefined;
  /** The app's status; undefined while (or when) it gave none. */
  appStatus: number | undefined;
  answer: unknown;
};

// Success answers are read for their user (sign-up only), error answers for
// their code; nothing is kept of any other answer, nor past these sizes.
const maxUserAnswerBytes = 64 * 1024;
const maxErrorAnswerBytes = 4096;

// Watches one request to an account route; the event is emitted when the
// client's response closes. Its status is the one the client got, 499 when
// the client left first (as the access log and admin.action record it); its
// outcome follows the app's status. A request the app never answered is still
// recorded, with outcome info: the guard stops its upstream request, but the
// app may have done the work already.
export function observeAccountRoute(
  deps: AccountDeps,
  req: IncomingMessage,
  res: ServerResponse,
  seen: AccountSeen,
  route: AccountRoute,
) {
  const token = route.actor === 'session' ? requestSessionToken(req.headers) : undefined;
  const exchange: Exchange = {
    forwarded: false,
    requestAccount: undefined,
    appStatus: undefined,
    answer: undefined,
  };
  let capture: AnswerCapture | undefined;
  let encoding: string | string[] | undefined;

  res.once('close', () => {
    if (!exchange.forwarded) return;
    const status = res.writableFinished ? res.statusCode : 499;
    exchange.answer = capture?.json(encoding);
    void settle(deps, route, token, exchange).then((actor) =>
      deps.events.emit(accountEvent(req, seen, route, exchange, status, actor)),
    );
  });

  return {
    onForward(account: string | undefined) {
      exchange.forwarded = true;
      exchange.requestAccount = account;
    },
    onHeaders(status: number, headers: Record<string, string | string[] | undefined>) {
      exchange.appStatus = status;
      encoding = headers['content-encoding'];
      const success = status >= 200 && status < 300;
      if (!success) capture = new AnswerCapture(maxErrorAnswerBytes);
      else if (route.actor === 'answer') capture = new AnswerCapture(maxUserAnswerBytes);
    },
    onData(chunk: Buffer) {
      capture?.add(chunk);
    },
  };
}

// The acting account; a sign-out the app accepted also ends the guard's
// knowledge of whose the session was (after it was looked up for the event).
async function settle(
  deps: AccountDeps,
  route: AccountRoute,
  token: string | undefined,
  exchange: Exchange,
): Promise<SessionOwner | undefined> {
  const fromRequest = exchange.requestAccount ? { account: exchange.requestAccount } : undefined;
  const success = accountOutcome(exchange.appStatus) === 'success';
  if (route.actor === 'answer')
    return (success ? userOf(exchange.answer) : undefined) ?? fromRequest;
  if (route.actor === 'request') return fromRequest;
  if (route.actor === 'none' || !token) return undefined;

  const tokenHash = hashSessionToken(token);
  const owner = await lookupOwner(deps.sessionOwners, deps.logger, tokenHash);
  const ended = exchange.appStatus !== undefined && exchange.appStatus < 400;
  if (route.type === 'logout' && ended) {
    await deps.sessionOwners.forget(tokenHash).catch(() => undefined);
  }
  return owner;
}

function accountEvent(
  req: IncomingMessage,
  seen: AccountSeen,
  route: AccountRoute,
  exchange: Exchange,
  status: number,
  actor: SessionOwner | undefined,
): SecurityEventInput {
  const outcome = accountOutcome(exchange.appStatus);
  const ok = outcome === 'success';
  return {
    type: ok ? route.type : (route.otherwise ?? route.type),
    outcome,
    actor: actor ?? {},
    clientIp: seen.clientIp,
    userAgent: firstValue(req.headers['user-agent']),
    requestId: seen.requestId,
    route: seen.route,
    method: 'POST',
    path: seen.rawPath,
    status,
    details: {
      appStatus: exchange.appStatus ?? null,
      code: ok ? null : (errorCodeOf(exchange.answer) ?? null),
      ...(route.actor === 'session' ? { knownUser: actor !== undefined } : {}),
    },
  };
}
