import type { IncomingHttpHeaders } from 'node:http';
import {
  changePassword,
  getSession,
  requestPasswordReset,
  resetPassword,
  signOut,
  signUpEmail,
} from './auth-account.ts';
import { signInEmail, verifyTotp } from './auth-sign-in.ts';
import { findSession } from './double-sessions.ts';
import type { Exchange } from './double-state.ts';
import {
  delay,
  type Fields,
  parseFields,
  redirectToLogin,
  requestOrigin,
  sendEmpty,
  sendError,
  sendJson,
} from './http-helpers.ts';
import { bodyOf } from './request-recorder.ts';

type AuthHandler = (exchange: Exchange, fields: Fields) => void;

const POST_ROUTES: Record<string, AuthHandler> = {
  '/sign-in/email': signInEmail,
  '/two-factor/verify-totp': verifyTotp,
  '/sign-up/email': signUpEmail,
  '/sign-out': signOut,
  '/change-password': changePassword,
  '/request-password-reset': requestPasswordReset,
  '/reset-password': resetPassword,
};

const ORGANIZATION_ACTIONS = new Set([
  'update-member-role',
  'remove-member',
  'invite-member',
  'cancel-invitation',
  'update',
  'delete',
  'create',
  'leave',
]);

// better-auth validates these against its trusted origins to stop open redirects.
const REDIRECT_FIELDS: Record<string, string> = {
  callbackURL: 'INVALID_CALLBACKURL',
  errorCallbackURL: 'INVALID_ERRORCALLBACKURL',
  newUserCallbackURL: 'INVALID_NEWUSERCALLBACKURL',
  redirectTo: 'INVALID_REDIRECTURL',
};

/** Everything under /api/auth, as better-auth's router answers it. */
export async function handleAuth(exchange: Exchange): Promise<void> {
  const { req, res, url } = exchange;
  const path = url.pathname.slice('/api/auth'.length);
  if (req.method === 'GET' && path === '/get-session') return getSession(exchange);
  if (path.startsWith('/organization/')) return handleOrganization(exchange, path.slice(14));

  const handler = req.method === 'POST' ? POST_ROUTES[path] : undefined;
  if (handler === undefined) return sendEmpty(res, 404);
  const fields = await readAuthBody(exchange);
  if (fields === undefined) return;
  if (exchange.state.authDelayMs > 0) await delay(exchange.state.authDelayMs);
  handler(exchange, fields);
}

async function handleOrganization(exchange: Exchange, action: string): Promise<void> {
  const { req, res, state } = exchange;
  const signedIn = findSession(state, req.headers);
  if (signedIn === undefined) return redirectToLogin(req, res);
  if (req.method !== 'POST' || !ORGANIZATION_ACTIONS.has(action)) return sendEmpty(res, 404);

  const fields = await readAuthBody(exchange);
  if (fields === undefined) return;
  sendJson(res, 200, { success: true, action, userId: signedIn.user.id });
}

/** Body fields after better-auth's origin check; undefined once an error is sent. */
async function readAuthBody(exchange: Exchange): Promise<Fields | undefined> {
  const { req, res } = exchange;
  const body = await bodyOf(req);
  if (rejectOrigin(exchange)) return undefined;

  const fields = parseFields(req.headers, body);
  if (fields === undefined) {
    sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');
    return undefined;
  }
  return rejectRedirects(exchange, fields) ? undefined : fields;
}

/**
 * A cookie-carrying POST must come from the app's own origin (CSRF defence), so a proxy
 * that rewrites Host or Origin inconsistently breaks every signed-in form.
 */
function rejectOrigin({ req, res, state }: Exchange): boolean {
  if (req.headers.cookie === undefined) return false;

  const origin = claimedOrigin(req.headers);
  if (origin === undefined || origin === 'null') {
    sendError(res, 403, 'MISSING_OR_NULL_ORIGIN', 'Missing or null Origin');
    return true;
  }
  if (origin !== (state.publicUrl ?? requestOrigin(req.headers))) {
    sendError(res, 403, 'INVALID_ORIGIN', 'Invalid origin');
    return true;
  }
  return false;
}

function rejectRedirects({ req, res, state }: Exchange, fields: Fields): boolean {
  const trusted = state.publicUrl ?? requestOrigin(req.headers);
  for (const [field, code] of Object.entries(REDIRECT_FIELDS)) {
    const value = fields[field];
    if (typeof value !== 'string' || isSameOrigin(value, trusted)) continue;
    sendError(res, 403, code, `Invalid ${field}`);
    return true;
  }
  return false;
}

function isSameOrigin(target: string, trusted: string): boolean {
  if (target.startsWith('/') && !target.startsWith('//')) return true;
  try {
    return new URL(target).origin === trusted;
  } catch {
    return false;
  }
}

function claimedOrigin(headers: IncomingHttpHeaders): string | undefined {
  if (headers.origin !== undefined) return headers.origin;
  if (headers.referer === undefined) return undefined;
  try {
    return new URL(headers.referer).origin;
  } catch {
    return undefined;
  }
}
