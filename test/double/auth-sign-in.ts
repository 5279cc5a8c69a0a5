import {
  createSession,
  expiredSessionCookies,
  readTwoFactorId,
  sessionCookies,
  twoFactorCookie,
} from './double-sessions.ts';
import { type Exchange, generateId, publicUser, SEEDED_TOTP_CODE } from './double-state.ts';
import { type Fields, sendError, sendJson, stringField } from './http-helpers.ts';

const TWO_FACTOR_WINDOW_MS = 10 * 60 * 1000;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(email: string): boolean {
  return EMAIL_PATTERN.test(email);
}

/** POST /api/auth/sign-in/email */
export function signInEmail({ req, res, state }: Exchange, fields: Fields) {
  const email = stringField(fields, 'email');
  const password = stringField(fields, 'password');
  const callbackURL = stringField(fields, 'callbackURL');
  if (email === undefined || password === undefined) {
    return sendError(res, 400, 'VALIDATION_ERROR', 'Invalid body parameters');
  }
  if (!isValidEmail(email)) return sendError(res, 400, 'INVALID_EMAIL', 'Invalid email');

  // Unknown account and wrong password answer alike, so the response names no accounts.
  const user = state.users.get(email.toLowerCase());
  if (user === undefined || user.password !== password) {
    return sendError(res, 401, 'INVALID_EMAIL_OR_PASSWORD', 'Invalid email or password');
  }
  if (!user.emailVerified) return sendError(res, 403, 'EMAIL_NOT_VERIFIED', 'Email not verified');

  if (user.twoFactorEnabled) {
    const pendingId = generateId();
    const expiresAt = new Date(Date.now() + TWO_FACTOR_WINDOW_MS);
    state.pendingTwoFactor.set(pendingId, { email: user.email, expiresAt });
    const cookies = [...expiredSessionCookies(state), twoFactorCookie(state, pendingId)];
    return sendJson(res, 200, { twoFactorRedirect: true }, cookies);
  }

  const session = createSession(state, user, req);
  const body = {
    redirect: callbackURL !== undefined,
    token: session.token,
    url: callbackURL,
    user: publicUser(user),
  };
  sendJson(res, 200, body, sessionCookies(state, { session, user }));
}

/** POST /api/auth/two-factor/verify-totp; the seeded authenticator always shows 123456. */
export function verifyTotp({ req, res, state }: Exchange, fields: Fields) {
  const pendingId = readTwoFactorId(state, req.headers);
  const pending = pendingId === undefined ? undefined : state.pendingTwoFactor.get(pendingId);
  const user = pending === undefined ? undefined : state.users.get(pending.email);
  if (pendingId === undefined || pending === undefined || user === undefined) {
    return sendError(res, 401, 'INVALID_TWO_FACTOR_COOKIE', 'Invalid two factor cookie');
  }
  if (pending.expiresAt.getTime() <= Date.now()) {
    state.pendingTwoFactor.delete(pendingId);
    return sendError(res, 401, 'INVALID_TWO_FACTOR_COOKIE', 'Invalid two factor cookie');
  }
  if (stringField(fields, 'code') !== SEEDED_TOTP_CODE) {
    return sendError(res, 401, 'INVALID_CODE', 'Invalid code');
  }

  state.pendingTwoFactor.delete(pendingId);
  const session = createSession(state, user, req);
  const cookies = [...sessionCookies(state, { session, user }), twoFactorCookie(state, undefined)];
  sendJson(res, 200, { token: session.token, user: publicUser(user) }, cookies);
}
